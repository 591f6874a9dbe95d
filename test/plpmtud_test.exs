defmodule PLPMTUDTest do
  use ExUnit.Case, async: true

  doctest PLPMTUD

  # A responder stand-in: drives the functional API against a path of
  # `path_mtu` bytes with explicit times, sending each probe the prober's
  # answers announce (`{:probe_due, size, payload}`, always last).
  # `events` is the answer that starts it; returns the final time and
  # every event of the search, oldest first.
  defp search(p, path_mtu, events, now \\ 0, id \\ 1, seen \\ []) do
    seen = seen ++ events

    case List.last(events) do
      {:probe_due, size, payload} ->
        assert PLPMTUD.next_probe(p) == size
        assert payload == PLPMTUD.payload_for(p, size)
        :ok = PLPMTUD.probe_sent(p, id, size, now)

        if size <= path_mtu do
          events = PLPMTUD.acked(p, id, now + 5)
          assert [{:probe_acked, ^id, ^size, 5} | _] = events
          search(p, path_mtu, events, now + 5, id + 1, seen)
        else
          deadline = PLPMTUD.deadline(p)
          events = PLPMTUD.tick(p, deadline)
          assert [{:probe_lost, ^id, ^size, :timeout} | _] = events
          search(p, path_mtu, events, deadline, id + 1, seen)
        end

      _ ->
        assert PLPMTUD.next_probe(p) == nil
        {now, seen}
    end
  end

  defp new!(options \\ []) do
    {:ok, p} = PLPMTUD.new(options)
    p
  end

  defp changes(events),
    do: for({:mtu_changed, old, new, reason, _} <- events, do: {old, new, reason})

  test "the NIF is loaded and reports the core version" do
    assert PLPMTUD.core_version() =~ ~r/^\d+\.\d+\.\d+$/
  end

  test "search to completion: within 16 bytes below the path, never above; the events tell it" do
    for path <- [576, 700, 1000, 1280, 1350, 1420, 1492, 1500] do
      p = new!(packet_overhead: 28)

      assert [{:search_started, 1500}, {:probe_due, 1038, 990}] =
               started = PLPMTUD.connected(p, 0)

      assert PLPMTUD.connected(p, 1) == []
      {_now, events} = search(p, path, started)
      mtu = PLPMTUD.mtu(p)
      assert PLPMTUD.state(p) == :search_complete
      assert mtu in (path - 16)..path, "path #{path}: #{mtu}"
      assert List.last(events) == {:search_complete, mtu, mtu - 20 - 28}
      # Every change is an acknowledged probe, each from the one before.
      changes = changes(events)
      assert Enum.all?(changes, &match?({_, _, :probe_acked}, &1))

      assert Enum.map(changes, &elem(&1, 0)) ==
               Enum.drop([576 | Enum.map(changes, &elem(&1, 1))], -1)

      assert (changes == [] and mtu == 576) or elem(List.last(changes), 1) == mtu
    end
  end

  test "first probe 1038, then 1269 on an ack; the answers say why" do
    p = new!()
    assert [{:search_started, 1500}, {:probe_due, 1038, 1010}] = PLPMTUD.connected(p, 0)
    assert PLPMTUD.next_probe(p) == 1038
    :ok = PLPMTUD.probe_sent(p, 1, 1038, 0)
    assert PLPMTUD.probe?(p, 1)

    assert PLPMTUD.acked(p, 1, 3) == [
             {:probe_acked, 1, 1038, 3},
             {:mtu_changed, 576, 1038, :probe_acked, 1010},
             {:probe_due, 1269, 1241}
           ]

    assert PLPMTUD.next_probe(p) == 1269
    assert PLPMTUD.acked(p, 1, 4) == [], "a stale ack changes nothing"
    assert [%{new: 576, reason: :initial}, %{at: 3, old: 576, new: 1038}] = PLPMTUD.history(p)
  end

  test "timeouts lower the ceiling after three losses; fallback doubles the interval" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    {_now, events} = search(p, 100, PLPMTUD.connected(p, 0))
    assert PLPMTUD.state(p) == :error
    assert PLPMTUD.mtu(p) == 576
    assert List.last(events) == {:fallback, 576, 3_600_000}
    assert changes(events) == []
    assert length(for {:probe_lost, _, _, :timeout} <- events, do: 1) == 12
    assert %{fallbacks: 1, probes_lost_timeout: 12} = PLPMTUD.stats(p)
  end

  test "disabled: never a probe, the fixed size" do
    p = new!(mtu_discovery_enabled: false, disabled_mtu: 1344, packet_overhead: 28)
    assert PLPMTUD.connected(p, 0) == []
    assert PLPMTUD.next_probe(p) == nil
    assert PLPMTUD.payload_size(p) == 1296
    assert PLPMTUD.deadline(p) == nil
  end

  test "PTB hints: accepted only when they quote the probe and report less" do
    p = new!()
    PLPMTUD.connected(p, 0)
    :ok = PLPMTUD.probe_sent(p, 1, 1038, 0)
    assert PLPMTUD.ptb(p, 900, nil, 1) == [{:ptb, 900, :unmatched}]
    assert PLPMTUD.ptb(p, 1100, 1, 1) == [{:ptb, 1100, :not_smaller}]
    assert PLPMTUD.ptb(p, 500, 1, 1) == [{:ptb, 500, :below_floor}]
    assert PLPMTUD.ptb(p, 900, 1, 1) == [{:ptb, 900, :accepted}, {:probe_due, 900, 872}]
    assert PLPMTUD.next_probe(p) == 900
    assert %{ptb_accepted: 1, ptb_ignored: 3} = PLPMTUD.stats(p)
  end

  test "a size is too big only after three lost transmissions; the MTU is untouched meanwhile" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    PLPMTUD.connected(p, 0)

    for {id, t} <- [{1, 0}, {2, 100}] do
      :ok = PLPMTUD.probe_sent(p, id, 1038, t)
      assert PLPMTUD.tick(p, t + 99) == []
      assert PLPMTUD.deadline(p) == t + 100

      assert PLPMTUD.tick(p, t + 100) == [
               {:probe_lost, id, 1038, :timeout},
               {:probe_due, 1038, 1010}
             ],
             "still 1038 after loss #{id}"

      assert PLPMTUD.info(p).limit == 1500
    end

    :ok = PLPMTUD.probe_sent(p, 3, 1038, 200)

    assert PLPMTUD.lost(p, 3, :dup_ack, 210) == [
             {:probe_lost, 3, 1038, :dup_ack},
             {:probe_due, 806, 778}
           ]

    assert PLPMTUD.lost(p, 3, :dup_ack, 211) == [], "a stale loss changes nothing"
    assert PLPMTUD.next_probe(p) == 806
    assert %{limit: 1037, mtu: 576, state: :searching} = PLPMTUD.info(p)
    assert %{probes_lost_timeout: 2, probes_lost_dup_ack: 1} = PLPMTUD.stats(p)
  end

  test "each fallback doubles the wait before the next search, up to max_probe_interval" do
    p =
      new!(
        probe_timeout_mode: :fixed,
        probe_timeout: 10,
        mtu_probe_interval: 1_000,
        max_probe_interval: 3_000
      )

    started = PLPMTUD.connected(p, 0)

    Enum.reduce([2_000, 3_000, 3_000], {0, started}, fn wait, {now, started} ->
      {now, events} = search(p, 100, started, now, now * 10 + 1)
      assert PLPMTUD.state(p) == :error
      assert {:fallback, 576, ^wait} = List.last(events)
      assert PLPMTUD.deadline(p) == now + wait
      assert PLPMTUD.tick(p, now + wait - 1) == []
      assert PLPMTUD.state(p) == :error
      started = PLPMTUD.tick(p, now + wait)
      assert started == [{:search_started, 1500}, {:probe_due, 1038, 1010}]
      assert PLPMTUD.state(p) == :searching
      {now + wait, started}
    end)

    assert PLPMTUD.stats(p).fallbacks == 3
  end

  test "re-probe after the interval: the MTU holds until a larger one is confirmed" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 50, mtu_probe_interval: 10_000)
    {now, _} = search(p, 1200, PLPMTUD.connected(p, 0))
    mtu = PLPMTUD.mtu(p)
    assert mtu in 1184..1200
    assert PLPMTUD.deadline(p) == now + 10_000
    started = PLPMTUD.tick(p, now + 10_000)
    assert [{:search_started, 1500}, {:probe_due, _, _}] = started
    assert PLPMTUD.state(p) == :searching
    # The path did not change: every larger size fails, the MTU stays.
    {now, events} = search(p, 1200, started, now + 10_000, 100)
    assert PLPMTUD.mtu(p) == mtu
    assert changes(events) == []
    assert List.last(events) == {:search_complete, mtu, mtu - 28}
    # It grew: the next re-probe finds it.
    {_, events} = search(p, 1400, PLPMTUD.tick(p, now + 10_000), now + 10_000, 200)
    assert PLPMTUD.mtu(p) in 1384..1400
    assert [{^mtu, _, :probe_acked} | _] = changes(events)
  end

  test "PTB hints and EMSGSIZE are ignored when no search runs" do
    p = new!()
    assert PLPMTUD.ptb(p, 900, nil, 0) == [{:ptb, 900, :not_probing}]
    assert PLPMTUD.emsgsize(p, 900, 0) == [{:emsgsize, 900, :not_probing}]
    search(p, 1500, PLPMTUD.connected(p, 0))
    assert PLPMTUD.state(p) == :search_complete
    mtu = PLPMTUD.mtu(p)
    assert PLPMTUD.ptb(p, 900, 1, 1_000) == [{:ptb, 900, :not_probing}]

    # Below the PLPMTU the kernel's word (its PMTU cache believes any ICMP
    # quoting the flow) is checked: the floor while the PLPMTU is probed.
    assert [
             {:emsgsize, 1400, :accepted},
             {:black_hole_suspected, ^mtu},
             {:mtu_changed, ^mtu, 576, :black_hole, _},
             {:probe_due, ^mtu, _}
           ] = PLPMTUD.emsgsize(p, 1400, 1_000)

    # The check probe refused too: the search goes on at the kernel's size.
    assert [{:emsgsize, 1400, :accepted}, {:probe_due, 1400, 1372}] =
             PLPMTUD.emsgsize(p, 1400, 1_001)

    assert PLPMTUD.mtu(p) == 576
    assert %{ptb_not_probing: 2, emsgsize_limits: 2} = PLPMTUD.stats(p)
  end

  test "turned off and on at run time: the fixed size, then a fresh search" do
    p = new!(disabled_mtu: 1344)
    search(p, 1500, PLPMTUD.connected(p, 0))
    mtu = PLPMTUD.mtu(p)
    assert PLPMTUD.set_enabled(p, false, 100) == [{:mtu_changed, mtu, 1344, :disabled, 1316}]
    assert PLPMTUD.set_enabled(p, false, 100) == []
    assert %{state: :disabled, mtu: 1344} = PLPMTUD.info(p)
    assert PLPMTUD.next_probe(p) == nil
    assert PLPMTUD.probe_now(p, 100) == []

    assert PLPMTUD.set_enabled(p, true, 200) == [
             {:mtu_changed, 1344, 576, :initial, 548},
             {:search_started, 1500},
             {:probe_due, 1038, 1010}
           ]

    assert %{state: :searching, mtu: 576} = PLPMTUD.info(p)
    assert PLPMTUD.next_probe(p) == 1038
    assert PLPMTUD.probe_now(p, 200) == [], "already searching"
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
      assert [{:search_started, 1500}, {:probe_due, size, _}] = PLPMTUD.connected(p, 0)
      assert size > 1280
      assert PLPMTUD.next_probe(p) == size
    end

    assert %{floor: 1300} = PLPMTUD.info(new!(family: :inet6, mtu_floor: 1300))
    assert %{floor: 600, mtu: 600} = PLPMTUD.info(new!(family: :inet, mtu_floor: 600))
  end
end
