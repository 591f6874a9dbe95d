defmodule PLPMTUD.KnowledgeTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.{Cache, Fragment, Overhead}

  test "the cache records, confirms, groups and forgets" do
    ip = {10, 200, 0, System.unique_integer([:positive]) |> rem(250)}
    other = {10, 201, 0, 1}
    :ok = Cache.record(ip, 1400, :probe_success)
    :ok = Cache.record(other, 1280, :ptb)

    assert %{mtu: 1400, confidence: 70, history: [%{mtu: 1400, reason: :probe_success}]} =
             Cache.lookup(ip)

    assert Cache.group_mtu([ip, other, {10, 202, 0, 1}]) == 1280
    assert Cache.delete(other)
    assert Cache.group_mtu([ip]) == 1400
    assert Enum.any?(Cache.entries(), fn {addr, _} -> addr == ip end)
    assert %{hits: hits} = Cache.stats()
    assert hits > 0
    assert_raise ArgumentError, fn -> Cache.record(ip, 1400, :because) end
  end

  test "fragments round-trip in any order; corruption and duplicates are refused and counted" do
    message = :rand.bytes(10_000)
    {:ok, fragments} = Fragment.split(message, 7, 1_000)
    assert length(fragments) == 11
    assert Enum.all?(fragments, &(byte_size(&1) <= 1_000))
    r = Fragment.reassembler()
    [first | rest] = Enum.shuffle(fragments)
    assert :more = Fragment.push(r, first, 0)
    assert {:error, :duplicate} = Fragment.push(r, first, 0)
    results = Enum.map(rest, &Fragment.push(r, &1, 0))
    assert {:ok, ^message} = List.last(Enum.reject(results, &(&1 == :more)))
    assert {:error, :duplicate_message} = Fragment.push(r, first, 0)

    <<head::binary-size(20), byte, tail::binary>> =
      hd(elem(Fragment.split("hi there", 8, 100), 1))

    assert {:error, :bad_checksum} =
             Fragment.push(r, head <> <<Bitwise.bxor(byte, 1)>> <> tail, 0)

    assert {:error, :malformed} = Fragment.push(r, "junk", 0)

    assert %{
             duplicates: 1,
             duplicate_messages: 1,
             completed: 1,
             bad_checksum: 1,
             malformed: 1,
             bytes_held: 0
           } = Fragment.stats(r)

    assert {:error, _} = Fragment.split("x", 1, 16)
  end

  test "a hostile flood never makes a reassembler hold more than its bound" do
    r = Fragment.reassembler(max_messages: 8, max_bytes: 32_768)

    for id <- 1..2_000 do
      {:ok, [first | _]} = Fragment.split(:binary.copy(<<id>>, 5_000), id, 1_000)
      Fragment.push(r, first, id)
    end

    stats = Fragment.stats(r)
    assert stats.peak_bytes <= 32_768
    assert stats.messages_held <= 8
    assert stats.evicted > 1_900
  end

  test "overheads, payload budgets, standard MTUs and MSS" do
    assert Overhead.overhead([:ipv4, :udp, :utp]) == 48
    assert Overhead.payload_budget(1500, [:ipv6, :udp]) == 1452
    assert Overhead.payload_budget(1420, [:ipv4, :udp, :quic_short]) == 1363
    assert {:wireguard, 1420} in Overhead.standard_mtus()
    assert Overhead.mss(1500, :inet) == 1460
    assert Overhead.mss(1280, :inet6) == 1220
    assert_raise ArgumentError, fn -> Overhead.overhead([:carrier_pigeon]) end
  end

  test "the MSS of a gen_tcp socket is clamped and read back" do
    {:ok, listener} = :gen_tcp.listen(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, port} = :inet.port(listener)
    {:ok, client} = :gen_tcp.connect({127, 0, 0, 1}, port, active: false)
    assert {:ok, mss} = Overhead.set_mss(listener, Overhead.mss(1350, :inet))
    assert mss == 1310
    assert {:ok, _} = Overhead.set_mss(client, 1000)
    :gen_tcp.close(client)
    :gen_tcp.close(listener)
  end
end

defmodule PLPMTUD.DiagnosticsTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.Diagnostics

  @quiet %{
    searches_completed: 10,
    fallbacks: 0,
    black_holes: 0,
    ptb_unmatched: 0,
    ptb_not_smaller: 0,
    ptb_below_floor: 0
  }

  test "no warnings for healthy paths" do
    assert Diagnostics.warnings([], [{{10, 0, 0, 1}, %{mtu: 1500, history: [1]}}], @quiet) == []
  end

  test "warnings say in plain words what looks wrong" do
    v6 = {0xFD00, 0, 0, 0, 0, 0, 0, 1}
    cache = [{v6, %{mtu: 1200, history: [1, 2, 3, 4]}}]
    totals = %{@quiet | black_holes: 3, fallbacks: 1, ptb_unmatched: 20}
    warnings = Diagnostics.warnings([], cache, totals) |> Enum.join("\n")
    assert warnings =~ "frequent black holes"
    assert warnings =~ "ICMP is probably filtered"
    assert warnings =~ "fallback"
    assert warnings =~ "forged"
    assert warnings =~ "unstable"
    assert warnings =~ "IPv6 path MTU below 1280 is impossible"
  end

  test "the report lists running probers" do
    {:ok, pid} = PLPMTUD.Prober.start_link(connected: false)
    report = PLPMTUD.Diagnostics.report()
    assert Enum.any?(report.probers, &(&1.pid == pid))
    assert is_map(report.mtu_distribution)
  end
end
