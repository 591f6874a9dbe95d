defmodule PLPMTUD.AppEnvTest do
  # Not async: it restarts the application and changes its environment.
  use ExUnit.Case, async: false

  import ExUnit.CaptureLog

  test "unknown_keys/1 names what is neither a prober option nor an application key" do
    env = [mtu_ceiling: 1400, cache_ttl: 1, mtu_cieling: 1400, cache_capacity: 5, colour: :red]
    assert PLPMTUD.Application.unknown_keys(env) == [:mtu_cieling, :colour]
    assert PLPMTUD.Application.unknown_keys([]) == []
    assert PLPMTUD.Application.unknown_keys(mtu_floor: 1200, probe_timeout: 100) == []
  end

  test "the application warns at start about unknown keys, and only then" do
    try do
      Application.put_env(:plpmtud, :mtu_cieling, 1400)
      Application.put_env(:plpmtud, :mtu_ceiling, 1400)

      log = capture_log(fn -> restart_app() end)
      assert log =~ "unknown keys in the :plpmtud application environment"
      assert log =~ ":mtu_cieling"
      refute log =~ ":mtu_ceiling"

      Application.delete_env(:plpmtud, :mtu_cieling)
      refute capture_log(fn -> restart_app() end) =~ "unknown keys"
    after
      Application.delete_env(:plpmtud, :mtu_cieling)
      Application.delete_env(:plpmtud, :mtu_ceiling)
      restart_app()
    end
  end

  test "a cache value of the wrong kind or out of range fails the start naming key and value" do
    cases = [
      cache_capacity: [nil, -1, 0, "10", 10.0, 2 ** 32, 2 ** 64],
      cache_ttl: [nil, -1, 0, "600000", :infinity, 2 ** 64]
    ]

    try do
      for {key, values} <- cases, value <- values do
        Application.put_env(:plpmtud, key, value)
        :ok = Application.stop(:plpmtud)

        log =
          capture_log(fn -> send(self(), {:started, Application.ensure_all_started(:plpmtud)}) end)

        assert_received {:started, {:error, {:plpmtud, reason}}}
        assert {{:invalid_app_env, ^key, message}, _} = reason
        assert message =~ ~r/^#{key} must be an integer in 1\.\.\d+, got: /
        assert String.ends_with?(message, inspect(value))
        assert log =~ message
        Application.delete_env(:plpmtud, key)
        {:ok, _} = Application.ensure_all_started(:plpmtud)
      end

      # The largest values are taken.
      Application.put_env(:plpmtud, :cache_capacity, 2 ** 32 - 1)
      Application.put_env(:plpmtud, :cache_ttl, 2 ** 64 - 1)
      restart_app()
    after
      Application.delete_env(:plpmtud, :cache_capacity)
      Application.delete_env(:plpmtud, :cache_ttl)
      _ = Application.stop(:plpmtud)
      {:ok, _} = Application.ensure_all_started(:plpmtud)
    end
  end

  defp restart_app do
    :ok = Application.stop(:plpmtud)
    {:ok, _} = Application.ensure_all_started(:plpmtud)
  end
end
