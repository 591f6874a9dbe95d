defmodule PLPMTUD.ConfigEnvTest do
  # Not async: it changes the application environment.
  use ExUnit.Case, async: false

  test "the application environment is merged under per-prober options" do
    previous = Application.get_all_env(:plpmtud)

    try do
      Application.put_env(:plpmtud, :mtu_ceiling, 1400)
      Application.put_env(:plpmtud, :not_a_prober_key, :ignored)
      {:ok, p} = PLPMTUD.new(size_unit: :ip)
      assert [{:search_started, 1400} | _] = PLPMTUD.connected(p, 0)
      assert PLPMTUD.info(p).limit == 1400
      {:ok, p} = PLPMTUD.new(mtu_ceiling: 1500, size_unit: :ip)
      assert [{:search_started, 1500} | _] = PLPMTUD.connected(p, 0)
      assert PLPMTUD.info(p).limit == 1500
    after
      Application.delete_env(:plpmtud, :mtu_ceiling)
      Application.delete_env(:plpmtud, :not_a_prober_key)
      Enum.each(previous, fn {k, v} -> Application.put_env(:plpmtud, k, v) end)
    end
  end

  test "an invalid application environment is refused like an invalid option" do
    previous = Application.fetch_env(:plpmtud, :mtu_floor)

    try do
      Application.put_env(:plpmtud, :mtu_floor, 2_000)
      assert {:error, {:invalid_config, :mtu_floor, _}} = PLPMTUD.new()
      assert {:error, {:invalid_config, :mtu_floor, _}} = :plpmtud.new(%{})
      Process.flag(:trap_exit, true)
      assert {:error, {:invalid_config, :mtu_floor, _}} = PLPMTUD.Prober.start_link()
      # A per-prober option wins over the environment.
      assert {:ok, _} = PLPMTUD.new(mtu_floor: 1_200)
      {:ok, prober} = PLPMTUD.Prober.start_link(config: %{mtu_floor: 1_200, size_unit: :ip})
      assert PLPMTUD.Prober.packet_size(prober) == 1_200
    after
      case previous do
        {:ok, value} -> Application.put_env(:plpmtud, :mtu_floor, value)
        :error -> Application.delete_env(:plpmtud, :mtu_floor)
      end
    end
  end
end
