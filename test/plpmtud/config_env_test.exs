defmodule PLPMTUD.ConfigEnvTest do
  # Not async: it changes the application environment.
  use ExUnit.Case, async: false

  test "the application environment is merged under per-prober options" do
    previous = Application.get_all_env(:plpmtud)

    try do
      Application.put_env(:plpmtud, :mtu_ceiling, 1400)
      Application.put_env(:plpmtud, :not_a_prober_key, :ignored)
      {:ok, p} = PLPMTUD.new()
      :ok = PLPMTUD.connected(p, 0)
      assert PLPMTUD.info(p).limit == 1400
      {:ok, p} = PLPMTUD.new(mtu_ceiling: 1500)
      :ok = PLPMTUD.connected(p, 0)
      assert PLPMTUD.info(p).limit == 1500
    after
      Application.delete_env(:plpmtud, :mtu_ceiling)
      Application.delete_env(:plpmtud, :not_a_prober_key)
      Enum.each(previous, fn {k, v} -> Application.put_env(:plpmtud, k, v) end)
    end
  end
end
