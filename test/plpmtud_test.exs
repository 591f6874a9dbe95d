defmodule PLPMTUDTest do
  use ExUnit.Case, async: true

  # A responder stand-in: drives the functional API against a path of
  # `path_mtu` bytes with explicit times; returns the final time.
  defp search(p, path_mtu, now \\ 0, id \\ 1) do
    case PLPMTUD.next_probe(p) do
      nil ->
        now

      size ->
        :ok = PLPMTUD.probe_sent(p, id, size, now)

        if size <= path_mtu do
          true = PLPMTUD.acked(p, id, now + 5)
          search(p, path_mtu, now + 5, id + 1)
        else
          deadline = PLPMTUD.deadline(p)
          :ok = PLPMTUD.tick(p, deadline)
          search(p, path_mtu, deadline, id + 1)
        end
    end
  end

  defp new!(options \\ []) do
    {:ok, p} = PLPMTUD.new(options)
    p
  end

  test "the NIF is loaded and reports the core version" do
    assert PLPMTUD.core_version() =~ ~r/^\d+\.\d+\.\d+$/
  end

  test "search to completion: within 16 bytes below the path, never above" do
    for path <- [576, 700, 1000, 1280, 1350, 1420, 1492, 1500] do
      p = new!()
      :ok = PLPMTUD.connected(p, 0)
      search(p, path)
      assert PLPMTUD.state(p) == :search_complete
      assert PLPMTUD.mtu(p) in (path - 16)..path, "path #{path}: #{PLPMTUD.mtu(p)}"
    end
  end

  test "first probe 1038, then 1269 on an ack; notifications say why" do
    p = new!()
    :ok = PLPMTUD.connected(p, 0)
    assert PLPMTUD.next_probe(p) == 1038
    :ok = PLPMTUD.probe_sent(p, 1, 1038, 0)
    assert PLPMTUD.probe?(p, 1)
    assert PLPMTUD.acked(p, 1, 3)
    assert PLPMTUD.next_probe(p) == 1269
    assert [{:mtu_changed, 576, 1038, :probe_acked}] = PLPMTUD.notifications(p)
    assert [%{new: 576, reason: :initial}, %{at: 3, old: 576, new: 1038}] = PLPMTUD.history(p)
  end

  test "timeouts lower the ceiling after three losses; fallback doubles the interval" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    :ok = PLPMTUD.connected(p, 0)
    search(p, 100)
    assert PLPMTUD.state(p) == :error
    assert PLPMTUD.mtu(p) == 576
    assert {:fallback, 576, 3_600_000} in PLPMTUD.notifications(p)
    assert %{fallbacks: 1, probes_lost_timeout: 12} = PLPMTUD.stats(p)
  end

  test "disabled: never a probe, the fixed size" do
    p = new!(mtu_discovery_enabled: false, disabled_mtu: 1344, packet_overhead: 28)
    :ok = PLPMTUD.connected(p, 0)
    assert PLPMTUD.next_probe(p) == nil
    assert PLPMTUD.payload_size(p) == 1296
    assert PLPMTUD.deadline(p) == nil
  end

  test "PTB hints: accepted only when they quote the probe and report less" do
    p = new!()
    :ok = PLPMTUD.connected(p, 0)
    :ok = PLPMTUD.probe_sent(p, 1, 1038, 0)
    assert PLPMTUD.ptb(p, 900, nil, 1) == :unmatched
    assert PLPMTUD.ptb(p, 1100, 1, 1) == :not_smaller
    assert PLPMTUD.ptb(p, 500, 1, 1) == :below_floor
    assert PLPMTUD.ptb(p, 900, 1, 1) == :accepted
    assert PLPMTUD.next_probe(p) == 900
    assert %{ptb_accepted: 1, ptb_ignored: 3} = PLPMTUD.stats(p)
  end

  test "config: errors name the key; unknown keys and wrong types raise" do
    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be at most 1500, got 2000"}} =
             PLPMTUD.new(mtu_floor: 2000)

    assert {:error, {:invalid_config, :mtu_ceiling, _}} =
             PLPMTUD.new(family: :inet6, mtu_ceiling: 1200)

    assert {:error, {:invalid_config, :mtu_probe_interval, _}} =
             PLPMTUD.new(mtu_probe_interval: 0)

    assert_raise ArgumentError, ~r/unknown plpmtud option/, fn -> PLPMTUD.new(mtu_flor: 1) end

    assert_raise ArgumentError, ~r/mtu_floor must be a non-negative integer/, fn ->
      PLPMTUD.new(mtu_floor: "1")
    end

    assert_raise ArgumentError, ~r/keyword list or a map/, fn -> PLPMTUD.new(:nope) end
    assert PLPMTUD.mtu(new!(family: :inet6)) == 1280
  end
end
