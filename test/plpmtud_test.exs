defmodule PLPMTUDTest do
  use ExUnit.Case, async: true

  doctest PLPMTUD

  # A responder stand-in: drives the functional API against a path of
  # `path_mtu` bytes with explicit times, sending each probe the prober's
  # answers announce (`{:probe_due, size}`, always last).
  # `events` is the answer that starts it; returns the final time and
  # every event of the search, oldest first.
  defp search(p, path_mtu, events, now \\ 0, id \\ 1, seen \\ []) do
    seen = seen ++ events

    case List.last(events) do
      {:probe_due, size} ->
        assert PLPMTUD.probe_size(p) == size
        assert PLPMTUD.on_send(p, id, size, now) == :probe

        if size <= path_mtu do
          events = PLPMTUD.on_ack(p, id, size, now + 5)
          assert [{:probe_acked, ^id, ^size, 5} | _] = events
          search(p, path_mtu, events, now + 5, id + 1, seen)
        else
          deadline = PLPMTUD.deadline(p)
          events = PLPMTUD.on_tick(p, deadline)
          assert [{:probe_lost, ^id, ^size, :timeout} | _] = events
          search(p, path_mtu, events, deadline, id + 1, seen)
        end

      _ ->
        assert PLPMTUD.probe_size(p) == nil
        {now, seen}
    end
  end

  # Most tests count in IP bytes (RFC 8899's numbers); the default unit,
  # payload, has tests of its own below.
  defp new!(options \\ []) do
    {:ok, p} = PLPMTUD.new(Keyword.put_new(options, :size_unit, :ip))
    p
  end

  defp changes(events),
    do: for({:mtu_changed, old, new, reason} <- events, do: {old, new, reason})

  defp state(p), do: PLPMTUD.info(p).state
  defp stats(p), do: PLPMTUD.info(p).stats

  test "the NIF is loaded and reports the core version" do
    assert PLPMTUD.core_version() =~ ~r/^\d+\.\d+\.\d+$/
  end

  test "search to completion: within 16 bytes below the path, never above; the events tell it" do
    for path <- [576, 700, 1000, 1280, 1350, 1420, 1492, 1500] do
      p = new!(packet_overhead: 28)

      assert [{:search_started, 1500}, {:probe_due, 1038}] = started = PLPMTUD.connected(p, 0)

      assert PLPMTUD.connected(p, 1) == []
      {_now, events} = search(p, path, started)
      mtu = PLPMTUD.packet_size(p)
      assert state(p) == :search_complete
      assert mtu in (path - 16)..path, "path #{path}: #{mtu}"
      assert List.last(events) == {:search_complete, mtu}
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
    assert [{:search_started, 1500}, {:probe_due, 1038}] = PLPMTUD.connected(p, 0)
    assert PLPMTUD.probe_size(p) == 1038
    assert PLPMTUD.on_send(p, 1, 1038, 0) == :probe

    assert PLPMTUD.on_ack(p, 1, 1038, 3) == [
             {:probe_acked, 1, 1038, 3},
             {:mtu_changed, 576, 1038, :probe_acked},
             {:probe_due, 1269}
           ]

    assert PLPMTUD.probe_size(p) == 1269
    assert PLPMTUD.on_ack(p, 1, 1038, 4) == [], "a stale ack changes nothing"

    assert [%{new: 576, reason: :initial}, %{at: 3, old: 576, new: 1038}] =
             PLPMTUD.info(p).history
  end

  test "timeouts lower the ceiling after three losses; fallback doubles the interval" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    {_now, events} = search(p, 100, PLPMTUD.connected(p, 0))
    assert state(p) == :error
    assert PLPMTUD.packet_size(p) == 576
    assert List.last(events) == {:fallback, 576, 3_600_000}
    assert changes(events) == []
    assert length(for {:probe_lost, _, _, :timeout} <- events, do: 1) == 12
    assert %{fallbacks: 1, probes_lost_timeout: 12} = stats(p)
  end

  test "disabled: never a probe, the fixed size" do
    p =
      new!(
        mtu_discovery_enabled: false,
        disabled_mtu: 1344,
        size_unit: :payload,
        packet_overhead: 28
      )

    assert PLPMTUD.connected(p, 0) == []
    assert PLPMTUD.probe_size(p) == nil
    assert PLPMTUD.packet_size(p) == 1296
    assert %{packet_ip: 1344, unit: :payload} = PLPMTUD.info(p)
    assert PLPMTUD.deadline(p) == nil
  end

  test "PTB hints: accepted only when they quote the probe and report less" do
    p = new!()
    PLPMTUD.connected(p, 0)
    :probe = PLPMTUD.on_send(p, 1, 1038, 0)
    assert PLPMTUD.on_ptb(p, 900, nil, 1) == [{:ptb, 900, :unmatched}]
    assert PLPMTUD.on_ptb(p, 1100, 1, 1) == [{:ptb, 1100, :not_smaller}]
    assert PLPMTUD.on_ptb(p, 500, 1, 1) == [{:ptb, 500, :below_floor}]
    assert PLPMTUD.on_ptb(p, 900, 1, 1) == [{:ptb, 900, :accepted}, {:probe_due, 900}]
    assert PLPMTUD.probe_size(p) == 900
    assert %{ptb_accepted: 1, ptb_ignored: 3} = stats(p)
  end

  test "a size is too big only after three lost transmissions; the MTU is untouched meanwhile" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    PLPMTUD.connected(p, 0)

    for {id, t} <- [{1, 0}, {2, 100}] do
      :probe = PLPMTUD.on_send(p, id, 1038, t)
      assert PLPMTUD.on_tick(p, t + 99) == []
      assert PLPMTUD.deadline(p) == t + 100

      assert PLPMTUD.on_tick(p, t + 100) == [
               {:probe_lost, id, 1038, :timeout},
               {:probe_due, 1038}
             ],
             "still 1038 after loss #{id}"

      assert PLPMTUD.info(p).limit == 1500
    end

    :probe = PLPMTUD.on_send(p, 3, 1038, 200)

    assert PLPMTUD.on_lost(p, [3], :dup_ack, 210) ==
             {[3], [{:probe_lost, 3, 1038, :dup_ack}, {:probe_due, 806}]}

    # A stale loss changes nothing; the number is still a probe's (keep it
    # out of congestion control).
    assert PLPMTUD.on_lost(p, [3], :dup_ack, 211) == {[3], []}
    assert PLPMTUD.on_lost(p, [{3, 1038}], :dup_ack, 211) == {[3], []}
    assert PLPMTUD.probe_size(p) == 806
    assert %{limit: 1037, packet: 576, state: :searching} = PLPMTUD.info(p)
    assert %{probes_lost_timeout: 2, probes_lost_dup_ack: 1} = stats(p)
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
      assert state(p) == :error
      assert {:fallback, 576, ^wait} = List.last(events)
      assert PLPMTUD.deadline(p) == now + wait
      assert PLPMTUD.on_tick(p, now + wait - 1) == []
      assert state(p) == :error
      started = PLPMTUD.on_tick(p, now + wait)
      assert started == [{:search_started, 1500}, {:probe_due, 1038}]
      assert state(p) == :searching
      {now + wait, started}
    end)

    assert stats(p).fallbacks == 3
  end

  test "re-probe after the interval: the MTU holds until a larger one is confirmed" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 50, mtu_probe_interval: 10_000)
    {now, _} = search(p, 1200, PLPMTUD.connected(p, 0))
    mtu = PLPMTUD.packet_size(p)
    assert mtu in 1184..1200
    assert PLPMTUD.deadline(p) == now + 10_000
    started = PLPMTUD.on_tick(p, now + 10_000)
    assert [{:search_started, 1500}, {:probe_due, _}] = started
    assert state(p) == :searching
    # The path did not change: every larger size fails, the MTU stays.
    {now, events} = search(p, 1200, started, now + 10_000, 100)
    assert PLPMTUD.packet_size(p) == mtu
    assert changes(events) == []
    assert List.last(events) == {:search_complete, mtu}
    # It grew: the next re-probe finds it.
    {_, events} = search(p, 1400, PLPMTUD.on_tick(p, now + 10_000), now + 10_000, 200)
    assert PLPMTUD.packet_size(p) in 1384..1400
    assert [{^mtu, _, :probe_acked} | _] = changes(events)
  end

  test "PTB hints and EMSGSIZE are ignored when no search runs" do
    p = new!()
    assert PLPMTUD.on_ptb(p, 900, nil, 0) == [{:ptb, 900, :not_probing}]

    assert PLPMTUD.on_send_refused(p, nil, {:emsgsize, 900}, 1000, 0) ==
             [{:emsgsize, 900, :not_probing}]

    search(p, 1500, PLPMTUD.connected(p, 0))
    assert state(p) == :search_complete
    mtu = PLPMTUD.packet_size(p)
    assert PLPMTUD.on_ptb(p, 900, 1, 1_000) == [{:ptb, 900, :not_probing}]

    # Below the PLPMTU the kernel's word (its PMTU cache believes any ICMP
    # quoting the flow) is checked: the floor while the PLPMTU is probed.
    assert [
             {:emsgsize, 1400, :accepted},
             {:black_hole_suspected, ^mtu},
             {:mtu_changed, ^mtu, 576, :black_hole},
             {:probe_due, ^mtu}
           ] = PLPMTUD.on_send_refused(p, nil, {:emsgsize, 1400}, mtu, 1_000)

    # The check probe refused too: the search goes on at the kernel's size.
    assert [{:emsgsize, 1400, :accepted}, {:probe_due, 1400}] =
             PLPMTUD.on_send_refused(p, nil, {:emsgsize, 1400}, mtu, 1_001)

    assert PLPMTUD.packet_size(p) == 576
    assert %{ptb_not_probing: 2, emsgsize_limits: 2} = stats(p)
  end

  test "turned off and on at run time: the fixed size, then a fresh search" do
    p = new!(disabled_mtu: 1344)
    search(p, 1500, PLPMTUD.connected(p, 0))
    mtu = PLPMTUD.packet_size(p)
    assert PLPMTUD.set_enabled(p, false, 100) == [{:mtu_changed, mtu, 1344, :disabled}]
    assert PLPMTUD.set_enabled(p, false, 100) == []
    assert %{state: :disabled, packet: 1344} = PLPMTUD.info(p)
    assert PLPMTUD.probe_size(p) == nil
    assert PLPMTUD.probe_now(p, 100) == []

    assert PLPMTUD.set_enabled(p, true, 200) == [
             {:mtu_changed, 1344, 576, :initial},
             {:search_started, 1500},
             {:probe_due, 1038}
           ]

    assert %{state: :searching, packet: 576} = PLPMTUD.info(p)
    assert PLPMTUD.probe_size(p) == 1038
    assert PLPMTUD.probe_now(p, 200) == [], "already searching"
  end

  test "config: errors name the key, unknown keys and wrong types included" do
    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be at most 1500, got 2000"}} =
             PLPMTUD.new(mtu_floor: 2000)

    assert {:error, {:invalid_config, :mtu_ceiling, _}} =
             PLPMTUD.new(family: :inet6, mtu_ceiling: 1200)

    assert {:error, {:invalid_config, :mtu_probe_interval, _}} =
             PLPMTUD.new(mtu_probe_interval: 0)

    assert {:error, {:invalid_config, :mtu_flor, "unknown plpmtud option mtu_flor"}} =
             PLPMTUD.new(mtu_flor: 1)

    assert {:error, {:invalid_config, :mtu_floor, message}} = PLPMTUD.new(mtu_floor: "1")
    assert message =~ "mtu_floor must be a non-negative integer"

    assert {:error, {:invalid_config, :mtu_floor, _}} = PLPMTUD.new(%{mtu_floor: 10})
    assert {:error, {:invalid_config, _, _}} = PLPMTUD.new(min_probe_timeout: 0)

    assert {:error, {:invalid_config, :mtu_ceiling, _}} =
             PLPMTUD.new(mtu_ceiling: Integer.pow(2, 70))

    assert {:error, {:invalid_config, :mtu_floor, _}} = PLPMTUD.new(mtu_floor: -1)

    assert {:error, {:invalid_config, :strategy, _}} = PLPMTUD.new(strategy: :random)
    assert {:error, {:invalid_config, :family, _}} = PLPMTUD.new(family: :inet4)
    assert {:error, {:invalid_config, :size_unit, _}} = PLPMTUD.new(size_unit: :bytes)
    assert {:error, {:invalid_config, :config, _}} = PLPMTUD.new(:nope)
    assert {:error, {:invalid_config, :config, _}} = PLPMTUD.new([:nope])

    assert {:error, {:invalid_config, "mtu_floor", "unknown plpmtud option" <> _}} =
             PLPMTUD.new(%{"mtu_floor" => 1})

    assert PLPMTUD.packet_size(new!(family: :inet6)) == 1280
  end

  test "an IPv6 floor below 1280 is raised to 1280, and info says so" do
    for floor <- [576, 600, 1279] do
      p = new!(family: :inet6, mtu_floor: floor)
      assert %{base: 1280, ceiling_ip: 1500, packet: 1280} = PLPMTUD.info(p)
      assert [{:search_started, 1500}, {:probe_due, size}] = PLPMTUD.connected(p, 0)
      assert size > 1280
      assert PLPMTUD.probe_size(p) == size
    end

    assert %{base: 1300} = PLPMTUD.info(new!(family: :inet6, mtu_floor: 1300))
    assert %{base: 600, packet: 600} = PLPMTUD.info(new!(family: :inet, mtu_floor: 600))
  end

  test "the default unit is payload: every size the prober takes and answers, hints in IP bytes" do
    {:ok, p} = PLPMTUD.new(packet_overhead: 28)

    assert %{unit: :payload, overhead: 48, packet: 528, packet_ip: 576, base: 528} =
             PLPMTUD.info(p)

    assert [{:search_started, 1452}, {:probe_due, 990}] = PLPMTUD.connected(p, 0)
    assert PLPMTUD.packet_size(p) == 528
    assert PLPMTUD.base_size(p) == 528
    assert PLPMTUD.probe_size(p) == 990
    assert PLPMTUD.on_send(p, 1, 989, 0) == :normal, "not the due size"
    assert PLPMTUD.on_send(p, 2, 990, 0) == :probe
    # A PTB reports the network's IP MTU: 900 IP bytes are 852 of payload.
    assert [{:ptb, 900, :accepted}, {:probe_due, 852}] = PLPMTUD.on_ptb(p, 900, 2, 1)
    assert PLPMTUD.info(p).invariants == :ok
  end

  test "on_lost: a batch of {seq, size} and bare seqs, probes named once; sack is dup_ack" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    PLPMTUD.connected(p, 0)
    :probe = PLPMTUD.on_send(p, 7, 1038, 0)
    :normal = PLPMTUD.on_send(p, 8, 500, 0)

    assert {[7], [{:probe_lost, 7, 1038, :dup_ack}, {:probe_due, 1038}]} =
             PLPMTUD.on_lost(p, [{8, 500}, {7, 1038}, 9], :sack, 5)

    assert_raise ArgumentError, fn -> PLPMTUD.on_lost(p, [{7, 1038}], :lost, 6) end
    assert_raise ArgumentError, fn -> PLPMTUD.on_lost(p, [:x], :timeout, 6) end
    assert_raise ArgumentError, fn -> PLPMTUD.on_lost(p, :x, :timeout, 6) end
  end

  test "on_lost splits a batch above the NIF's 1024 losses and keeps its answer whole" do
    p = new!(probe_timeout_mode: :fixed, probe_timeout: 100)
    PLPMTUD.connected(p, 0)
    :probe = PLPMTUD.on_send(p, 5_000, 1038, 0)
    losses = for(seq <- 1..3_000, do: {seq, 400}) ++ [{5_000, 1038}]

    assert {[5_000], [{:probe_lost, 5_000, 1038, :dup_ack} | _]} =
             PLPMTUD.on_lost(p, losses, :dup_ack, 5)

    assert PLPMTUD.info(p).invariants == :ok
  end

  test "the quoted-bytes PTB defence through PLPMTUD: the probe's first bytes, not its number" do
    {:ok, p} = PLPMTUD.new(packet_overhead: 28)
    PLPMTUD.connected(p, 0)
    packet = :crypto.strong_rand_bytes(990)
    assert PLPMTUD.on_send(p, 3, 990, binary_part(packet, 0, 32), 0) == :probe
    assert [{:ptb, 900, :unmatched}] = PLPMTUD.on_ptb(p, 900, 3, 1)
    assert [{:ptb, 900, :unmatched}] = PLPMTUD.on_ptb(p, 900, :binary.copy(<<0>>, 64), 1)
    assert [{:ptb, 900, :accepted}, {:probe_due, 852}] = PLPMTUD.on_ptb(p, 900, packet, 2)
  end
end
