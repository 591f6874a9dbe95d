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

  test "a size is too big only after three lost transmissions; the MTU is untouched meanwhile" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    :ok = PLPMTUD.connected(p, 0)

    for {id, t} <- [{1, 0}, {2, 100}] do
      :ok = PLPMTUD.probe_sent(p, id, 1038, t)
      :ok = PLPMTUD.tick(p, t + 99)
      assert PLPMTUD.deadline(p) == t + 100
      :ok = PLPMTUD.tick(p, t + 100)
      assert PLPMTUD.next_probe(p) == 1038, "still 1038 after loss #{id}"
      assert PLPMTUD.info(p).limit == 1500
    end

    :ok = PLPMTUD.probe_sent(p, 3, 1038, 200)
    assert PLPMTUD.lost(p, 3, :dup_ack, 210)
    assert PLPMTUD.next_probe(p) == 806
    assert %{limit: 1037, mtu: 576, state: :searching} = PLPMTUD.info(p)
    assert %{probes_lost_timeout: 2, probes_lost_dup_ack: 1} = PLPMTUD.stats(p)
    assert PLPMTUD.notifications(p) == []
  end

  test "each fallback doubles the wait before the next search, up to max_probe_interval" do
    p =
      new!(
        probe_timeout_mode: :fixed,
        probe_timeout: 10,
        mtu_probe_interval: 1_000,
        max_probe_interval: 3_000
      )

    :ok = PLPMTUD.connected(p, 0)

    Enum.reduce([2_000, 3_000, 3_000], 0, fn wait, now ->
      now = search(p, 100, now, now * 10 + 1)
      assert PLPMTUD.state(p) == :error
      assert {:fallback, 576, ^wait} = List.last(PLPMTUD.notifications(p))
      assert PLPMTUD.deadline(p) == now + wait
      :ok = PLPMTUD.tick(p, now + wait - 1)
      assert PLPMTUD.state(p) == :error
      :ok = PLPMTUD.tick(p, now + wait)
      assert PLPMTUD.state(p) == :searching
      now + wait
    end)

    assert PLPMTUD.stats(p).fallbacks == 3
  end

  test "re-probe after the interval: the MTU holds until a larger one is confirmed" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 50, mtu_probe_interval: 10_000)
    :ok = PLPMTUD.connected(p, 0)
    now = search(p, 1200)
    mtu = PLPMTUD.mtu(p)
    assert mtu in 1184..1200
    assert PLPMTUD.deadline(p) == now + 10_000
    _ = PLPMTUD.notifications(p)
    :ok = PLPMTUD.tick(p, now + 10_000)
    assert PLPMTUD.state(p) == :searching
    # The path did not change: every larger size fails, the MTU stays.
    now = search(p, 1200, now + 10_000, 100)
    assert PLPMTUD.mtu(p) == mtu
    assert [{:search_complete, ^mtu}] = PLPMTUD.notifications(p)
    # It grew: the next re-probe finds it.
    :ok = PLPMTUD.tick(p, now + 10_000)
    search(p, 1400, now + 10_000, 200)
    assert PLPMTUD.mtu(p) in 1384..1400
  end

  test "PTB hints and EMSGSIZE are ignored when no search runs" do
    p = new!()
    assert PLPMTUD.ptb(p, 900, nil, 0) == :not_probing
    assert PLPMTUD.emsgsize(p, 900, 0) == :not_probing
    :ok = PLPMTUD.connected(p, 0)
    search(p, 1500)
    assert PLPMTUD.state(p) == :search_complete
    assert PLPMTUD.ptb(p, 900, 1, 1_000) == :not_probing
    assert PLPMTUD.emsgsize(p, 1400, 1_000) == :accepted
    assert PLPMTUD.next_probe(p) == 1400
    assert PLPMTUD.mtu(p) == 1400
    assert %{ptb_not_probing: 2, emsgsize_limits: 1} = PLPMTUD.stats(p)
  end

  test "turned off and on at run time: the fixed size, then a fresh search" do
    p = new!(disabled_mtu: 1344)
    :ok = PLPMTUD.connected(p, 0)
    search(p, 1500)
    :ok = PLPMTUD.set_enabled(p, false, 100)
    assert %{state: :disabled, mtu: 1344} = PLPMTUD.info(p)
    assert PLPMTUD.next_probe(p) == nil
    assert PLPMTUD.probe_now(p, 100) == false
    :ok = PLPMTUD.set_enabled(p, true, 200)
    assert %{state: :searching, mtu: 576} = PLPMTUD.info(p)
    assert PLPMTUD.next_probe(p) == 1038
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

    assert {:error, {:invalid_config, :mtu_floor, _}} = PLPMTUD.new(%{mtu_floor: 10})
    assert {:error, {:invalid_config, _, _}} = PLPMTUD.new(min_probe_timeout: 0)

    assert {:error, {:invalid_config, :mtu_ceiling, _}} =
             PLPMTUD.new(mtu_ceiling: Integer.pow(2, 70))

    assert {:error, {:invalid_config, :mtu_floor, _}} = PLPMTUD.new(mtu_floor: -1)

    assert_raise ArgumentError, ~r/strategy/, fn -> PLPMTUD.new(strategy: :random) end
    assert_raise ArgumentError, ~r/family/, fn -> PLPMTUD.new(family: :inet4) end
    assert_raise ArgumentError, ~r/keyword list or a map/, fn -> PLPMTUD.new(:nope) end

    assert_raise ArgumentError, ~r/unknown plpmtud option/, fn ->
      PLPMTUD.new(%{"mtu_floor" => 1})
    end

    assert PLPMTUD.mtu(new!(family: :inet6)) == 1280
  end

  test "an IPv6 floor below 1280 is raised to 1280, and info says so" do
    for floor <- [576, 600, 1279] do
      p = new!(family: :inet6, mtu_floor: floor)
      assert %{floor: 1280, ceiling: 1500, mtu: 1280} = PLPMTUD.info(p)
      PLPMTUD.connected(p, 0)
      assert PLPMTUD.next_probe(p) > 1280
    end

    assert %{floor: 1300} = PLPMTUD.info(new!(family: :inet6, mtu_floor: 1300))
    assert %{floor: 600, mtu: 600} = PLPMTUD.info(new!(family: :inet, mtu_floor: 600))
  end
end
