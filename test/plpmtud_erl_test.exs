defmodule PLPMTUD.ErlangFacadeTest.Answers do
  @moduledoc false
  # Readings of the facade's answers, for assertions that care about one thing.

  # The packet size after one answer (`{:changed, size}` for the last
  # mtu_changed), for assertions that only care about that.
  def change(events) do
    Enum.reduce(events, :unchanged, fn
      {:mtu_changed, _old, new, _reason}, _ -> {:changed, new}
      _, change -> change
    end)
  end

  # A hint's verdict: the first event of on_ptb/on_send_refused's answer.
  def verdict([{tag, _ip_mtu, verdict} | _]) when tag in [:ptb, :emsgsize], do: verdict

  def lost_batch(h, losses, reason, now) do
    {probes, events} = :plpmtud.on_lost(h, losses, reason, now)
    {probes, change(events)}
  end

  def lost1(h, loss, reason, now) do
    {probes, events} = :plpmtud.on_lost(h, [loss], reason, now)
    seq = if is_tuple(loss), do: elem(loss, 0), else: loss
    {seq in probes, change(events)}
  end

  def probing?(h), do: :plpmtud.info(h).state in [:searching, :base]
end

defmodule PLPMTUD.ErlangFacadeTest do
  use ExUnit.Case, async: true
  import PLPMTUD.ErlangFacadeTest.Answers

  # aiutp on IPv4: IP 20 + UDP 8 + uTP 20 = 48 bytes per packet.
  @aiutp %{packet_overhead: 28, probe_timeout_mode: :fixed, probe_timeout: 100}

  defp new!(config \\ %{}) do
    {:ok, h} = :plpmtud.new(Map.merge(@aiutp, config))
    h
  end

  # Drives the search the way aiutp would: send a packet of probe_size,
  # ack it when it fits the path's payload limit, tick past the timeout otherwise.
  defp search(h, path_payload, now \\ 0, seq \\ 1) do
    case :plpmtud.probe_size(h) do
      nil ->
        now

      size ->
        assert :probe = :plpmtud.on_send(h, seq, size, now)

        if size <= path_payload do
          :plpmtud.on_ack(h, seq, size, now + 10)
          search(h, path_payload, now + 10, seq + 1)
        else
          assert [{:probe_lost, ^seq, ^size, :timeout} | _] = :plpmtud.on_tick(h, now + 100)
          search(h, path_payload, now + 100, seq + 1)
        end
    end
  end

  test "the range is 528..1452 payload bytes for 576..1500 and the first probe is 990" do
    h = new!()
    assert :plpmtud.packet_size(h) == 528
    assert :plpmtud.probe_size(h) == nil
    [_ | _] = :plpmtud.connected(h, 0)
    assert :plpmtud.probe_size(h) == 1038 - 48
    assert probing?(h)
  end

  test "search to completion in payload units, within 16 bytes below the path" do
    h = new!()
    :plpmtud.connected(h, 0)
    search(h, 1302)
    size = :plpmtud.packet_size(h)
    assert size in 1286..1302
    refute probing?(h)
    assert %{state: :search_complete, packet: ^size, probe: nil} = :plpmtud.info(h)
  end

  test "on_send claims only a packet of exactly the probe size, and seq 0 is a valid probe" do
    h = new!()
    :plpmtud.connected(h, 0)
    assert :normal = :plpmtud.on_send(h, 5, 500, 0)
    assert :probe = :plpmtud.on_send(h, 0, 990, 0)
    assert :normal = :plpmtud.on_send(h, 6, 990, 0), "one probe in flight"
    assert {:changed, 990} = change(:plpmtud.on_ack(h, 0, 990, 5))
    assert :unchanged = change(:plpmtud.on_ack(h, 0, 990, 6))
  end

  # Issue 21 item 0, as aiutp ran into it: a padded probe (seq 2, payload
  # 1374) is lost on a 1302 path; its data goes again under seq 2 unpadded
  # (1296) before the loss is known, and the peer acks seq 2.
  test "the ack of a probe's unpadded resend under its sequence number never confirms it" do
    for {report_resend?, acked_bytes} <- [{true, 1296}, {true, 1374}, {false, 1296}, {false, 0}] do
      h = new!(%{mtu_initial: 1344})
      :plpmtud.connected(h, 0)
      assert :probe = :plpmtud.on_send(h, 1, 1296, 0)
      assert :unchanged = change(:plpmtud.on_ack(h, 1, 1296, 1))
      assert 1374 = :plpmtud.probe_size(h)
      data = 1296
      assert :probe = :plpmtud.on_send(h, 2, 1374, 2)
      if report_resend?, do: assert(:normal = :plpmtud.on_send(h, 2, data, 3))
      assert :unchanged = change(:plpmtud.on_ack(h, 2, acked_bytes, 10))
      assert :plpmtud.packet_size(h) == 1296, inspect({report_resend?, acked_bytes})
      assert %{stats: %{probes_lost_resent: 1, probes_acked: 1}} = :plpmtud.info(h)
    end
  end

  # Issue 24 item 2: a probe resolved lately (by on_tick) whose data went
  # again unpadded: the batch that reports its loss names the resend's
  # size, and the probe must still be recognised (kept out of the window).
  test "the first loss reported for a probe's number is the probe's, at any size" do
    h = new!()
    :plpmtud.connected(h, 0)
    assert :probe = :plpmtud.on_send(h, 2, 990, 0)
    assert [{:probe_lost, 2, 990, :timeout} | _] = :plpmtud.on_tick(h, 100)
    assert :normal = :plpmtud.on_send(h, 2, 500, 101)
    assert {[2], :unchanged} = lost_batch(h, [{2, 500}, {3, 500}], :sack, 150)

    assert {[], :unchanged} = lost_batch(h, [{2, 500}], :sack, 200),
           "a later loss of the number is the resend's"
  end

  # Issue 21 item 13: a loss batch of any length is split into NIF calls
  # of at most 1024 losses, each returning in microseconds.
  test "a long loss batch is split into short NIF calls and answered whole" do
    h = new!()
    :plpmtud.connected(h, 0)
    assert :probe = :plpmtud.on_send(h, 300_000, 990, 0)
    losses = for(seq <- 1..200_000, do: {seq, 500}) ++ [{300_000, 990}]
    assert {[300_000], _} = lost_batch(h, losses, :sack, 1)

    too_long = for seq <- 1..1025, do: {seq, 500}

    assert_raise ArgumentError, fn ->
      :plpmtud_nif.prober_lost(h, 2, :dup_ack, too_long)
    end

    {micros, _} =
      :timer.tc(fn ->
        :plpmtud_nif.prober_lost(h, 3, :dup_ack, Enum.take(too_long, 1024))
      end)

    assert micros < 5_000, "one call of 1024 losses took #{micros} µs"
    assert_raise ArgumentError, fn -> :plpmtud.on_lost(h, [{1, 500} | :tail], :sack, 4) end
  end

  test "a lost probe is reported as a probe; three losses lower the ceiling" do
    h = new!()
    :plpmtud.connected(h, 0)

    for seq <- 1..3 do
      assert :probe = :plpmtud.on_send(h, seq, 990, 0)
      assert {true, :unchanged} = lost1(h, seq, :sack, 1)
    end

    assert :plpmtud.probe_size(h) == 806 - 48
    assert {false, :unchanged} = lost1(h, {99, 1000}, :timeout, 2)
  end

  test "fallback after repeated failures keeps the floor, and the next search is later" do
    h = new!(%{mtu_probe_interval: 1000})
    :plpmtud.connected(h, 0)
    search(h, 100)
    assert :plpmtud.packet_size(h) == 528
    assert %{state: :error, deadline: deadline, stats: %{fallbacks: 1}} = :plpmtud.info(h)
    assert [] = :plpmtud.on_tick(h, deadline - 1)
    assert [{:search_started, 1452}, {:probe_due, 990}] = :plpmtud.on_tick(h, deadline)
  end

  test "re-probe after the interval keeps the packet size until a larger one is confirmed" do
    h = new!(%{mtu_probe_interval: 500, mtu_ceiling: 1400})
    :plpmtud.connected(h, 0)
    now = search(h, 1200)
    size = :plpmtud.packet_size(h)
    assert [{:search_started, _}, {:probe_due, _}] = :plpmtud.on_tick(h, now + 500)
    assert :plpmtud.packet_size(h) == size
    search(h, 1352, now + 500, 100)
    assert :plpmtud.packet_size(h) > size
  end

  test "disabled: never probes and keeps aiutp's fixed 1296-byte payload" do
    h = new!(%{mtu_discovery_enabled: false, disabled_mtu: 1344})
    :plpmtud.connected(h, 0)
    assert :plpmtud.packet_size(h) == 1296
    assert :plpmtud.probe_size(h) == nil
    assert :normal = :plpmtud.on_send(h, 1, 1296, 0)
    assert [] = :plpmtud.on_tick(h, 10_000_000)
  end

  test "ICMP hints and EMSGSIZE in IP bytes; off and on starts over" do
    h = new!()
    :plpmtud.connected(h, 0)
    :probe = :plpmtud.on_send(h, 1, 990, 0)
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, :undefined, 1))
    assert :accepted = verdict(:plpmtud.on_ptb(h, 900, 1, 1))
    assert :plpmtud.probe_size(h) == 900 - 48

    assert :not_smaller =
             verdict(:plpmtud.on_send_refused(h, :undefined, {:emsgsize, 1400}, 852, 2))

    :plpmtud.set_enabled(h, false, 3)
    :plpmtud.set_enabled(h, true, 3)
    assert :plpmtud.probe_size(h) == 990
  end

  # Issue 22: the quoted-bytes defence, for transports whose sequence
  # numbers an off-path forger can guess (uTP: 16 bits).
  test "a probe sent with its quote: a PTB is believed only when it quotes those bytes" do
    h = new!()
    :plpmtud.connected(h, 0)
    # A uTP-like header (its seq is guessable) and the start of the data.
    packet = <<1::4, 1::4, 0, 7::16, :crypto.strong_rand_bytes(60)::binary>>
    assert :probe = :plpmtud.on_send(h, 1, 990, packet, 0)
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, 1, 1)), "the number alone is guessable"
    <<first, rest::binary>> = packet
    forged = <<Bitwise.bxor(first, 1), rest::binary>>
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, forged, 1))
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, binary_part(packet, 31, 20), 1))
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, binary_part(packet, 0, 8), 1))
    # What a router quotes: the datagram's start (here 40 bytes of it).
    assert [{:ptb, 900, :accepted}, {:probe_due, 852}] =
             :plpmtud.on_ptb(h, 900, binary_part(packet, 0, 40), 2)

    assert %{stats: %{ptb_accepted: 1, ptb_unmatched: 4}} = :plpmtud.info(h)
  end

  test "a PTB quoting no packet of ours may say undefined or nil" do
    h = new!()
    :plpmtud.connected(h, 0)
    :probe = :plpmtud.on_send(h, 1, 990, 0)
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, nil, 1))
    assert :unmatched = verdict(:plpmtud.on_ptb(h, 900, 2, 1))
    assert %{stats: %{ptb_unmatched: 2, ptb_accepted: 0}} = :plpmtud.info(h)
  end

  test "acks and losses of data packets are not stale probe events" do
    h = new!()
    :plpmtud.connected(h, 0)

    for seq <- 1..50 do
      assert :unchanged = change(:plpmtud.on_ack(h, seq, 0, 0))
      assert :unchanged = change(:plpmtud.on_ack(h, seq, 500, 0))
      assert {false, :unchanged} = lost1(h, seq, :dup_ack, 0)
      assert {false, :unchanged} = lost1(h, {seq, 500}, :timeout, 0)
    end

    assert %{stats: %{stale_events: 0, probes_sent: 0}} = :plpmtud.info(h)
  end

  test "a probe timed out by on_tick is still a probe when the transport reports it lost" do
    h = new!()
    :plpmtud.connected(h, 0)
    :probe = :plpmtud.on_send(h, 7, 990, 0)
    assert [{:probe_lost, 7, 990, :timeout}, {:probe_due, 990}] = :plpmtud.on_tick(h, 100)
    assert {true, :unchanged} = lost1(h, {7, 990}, :timeout, 150)
    assert %{stats: %{probes_lost_timeout: 1}} = :plpmtud.info(h)
  end

  test "black hole: full-size data lost in three bursts, the floor while the check probe is lost, then a search" do
    h = new!()
    :plpmtud.connected(h, 0)
    now = search(h, 1302)
    size = :plpmtud.packet_size(h)
    assert size in 1286..1302

    # An ack of a full-size packet between bursts clears the suspicion.
    for t <- [0, 100], do: lost1(h, {1000 + t, size}, :timeout, now + t)
    :plpmtud.on_ack(h, 2000, size, now + 150)
    assert :plpmtud.probe_size(h) == nil

    now = now + 300

    # Without the ack these would be the third burst.
    for t <- [0, 100],
        do: assert({false, :unchanged} = lost1(h, {3000 + t, size}, :timeout, now + t))

    # The third burst: data at the floor while a probe checks the size.
    assert {false, {:changed, 528}} = lost1(h, {3200, size}, :timeout, now + 200)
    assert :plpmtud.probe_size(h) == size
    assert probing?(h)
    :plpmtud.on_ack(h, 3300, size, now + 210)

    assert {:plpmtud.packet_size(h), :plpmtud.probe_size(h)} == {528, size},
           "a late data ack settles nothing"

    assert :plpmtud.base_size(h) == 528
    assert :plpmtud.base_size(new!(%{family: :inet6})) == 1280 - 40 - 28

    now = now + 200

    for {seq, t} <- [{4000, 0}, {4001, 100}] do
      :probe = :plpmtud.on_send(h, seq, size, now + t)
      assert [{:probe_lost, ^seq, ^size, :timeout} | _] = :plpmtud.on_tick(h, now + t + 100)
    end

    :probe = :plpmtud.on_send(h, 4002, size, now + 200)
    assert {true, :unchanged} = lost1(h, {4002, size}, :dup_ack, now + 250)
    assert :plpmtud.packet_size(h) == 528
    assert %{state: :searching, stats: %{black_holes: 1}} = :plpmtud.info(h)
    assert :plpmtud.probe_size(h) < size
  end

  test "bad input gives error tuples or badarg, never a crash" do
    assert {:error, {:invalid_config, :mtu_flor, msg}} = :plpmtud.new(%{mtu_flor: 1})
    assert msg == "unknown plpmtud option mtu_flor"

    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be a non-negative integer"}} =
             :plpmtud.new(%{mtu_floor: :big})

    assert {:error, {:invalid_config, :config, _}} = :plpmtud.new([:not_a_map])

    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be at most 65535, got 99999"}} =
             :plpmtud.new(%{mtu_floor: 99_999})

    h = new!()
    assert_raise ArgumentError, fn -> :plpmtud.connected(h, -1) end
    assert_raise ArgumentError, fn -> :plpmtud.on_send(h, -1, 990, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.on_lost(h, [1], :eaten, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.packet_size(make_ref()) end
    assert_raise ArgumentError, fn -> :plpmtud.on_send(h, 1, :big, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.on_ack(h, 1, "990", 0) end
    assert_raise ArgumentError, fn -> :plpmtud.on_ack(h, 1, 990, -5) end
    assert_raise ArgumentError, fn -> :plpmtud.on_lost(h, [{99, 500}], :eaten, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.on_lost(h, [{99, 500}], :timeout, 1.5) end
    assert_raise ArgumentError, fn -> :plpmtud.on_ptb(h, 900, 1.5, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.on_send(h, 1, 990, :quote, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.on_send_refused(h, :undefined, :eaten, 990, 0) end
    assert_raise ArgumentError, fn -> :plpmtud.connected(h, 0, :socket) end
    assert :plpmtud.packet_size(h) == 528
  end
end

defmodule PLPMTUD.ErlangTransportContractTest do
  use ExUnit.Case, async: true
  import PLPMTUD.ErlangFacadeTest.Answers

  # aiutp: UDP 8 + uTP 20 above IP; a padding extension header of 2 bytes.
  @aiutp %{
    packet_overhead: 28,
    padding_overhead: 2,
    probe_timeout_mode: :fixed,
    probe_timeout: 100
  }

  defp new!(config \\ %{}) do
    {:ok, h} = :plpmtud.new(Map.merge(@aiutp, config))
    h
  end

  test "mtu_initial: aiutp's 1296-byte payload from the start, probed first, kept when it passes" do
    h = new!(%{mtu_initial: 1344})
    assert :plpmtud.packet_size(h) == 1296
    [_ | _] = :plpmtud.connected(h, 0)
    assert :plpmtud.probe_size(h) == 1296
    assert :probe = :plpmtud.on_send(h, 1, 1296, 0)
    assert :unchanged = change(:plpmtud.on_ack(h, 1, 1296, 5))
    assert :plpmtud.probe_size(h) == 1374
  end

  test "a data packet padded up to the probe: exact sizes, and its loss alone is no congestion" do
    h = new!()
    [_ | _] = :plpmtud.connected(h, 0)
    assert :plpmtud.probe_size(h) == 990
    assert :plpmtud.probe_padding(h, 500) == 488
    assert :plpmtud.probe_padding(h, 988) == 0
    assert :plpmtud.probe_padding(h, 989) == nil
    assert :probe = :plpmtud.on_send(h, 7, 500 + 2 + 488, 0)
    assert :plpmtud.probe_padding(h, 500) == nil, "a probe is in flight"
    # A SACK batch: the probe and two data packets below the PLPMTU.
    assert {[7], :unchanged} = lost_batch(h, [{5, 400}, {7, 990}, {8, 400}], :sack, 10)

    # A batch of only the probe's later loss report: a probe, no data loss.
    assert {[7], :unchanged} = lost_batch(h, [{7, 990}], :timeout, 20)
    assert {[], :unchanged} = lost_batch(h, [], :sack, 20)
    assert_raise ArgumentError, fn -> lost_batch(h, [{1, 2} | :x], :sack, 20) end
    assert_raise ArgumentError, fn -> lost_batch(h, [{1, -2}], :sack, 20) end
  end

  for backend <- [:inet, :socket], family <- [:inet, :inet6] do
    test "#{backend} backend, #{family}: every socket function of the facade on gen_udp" do
      family = unquote(family)
      ip = if family == :inet, do: {127, 0, 0, 1}, else: {0, 0, 0, 0, 0, 0, 0, 1}

      open = fn ->
        :gen_udp.open(0, [
          {:inet_backend, unquote(backend)},
          :binary,
          family,
          ip: ip,
          active: false
        ])
      end

      {:ok, server} = open.()
      {:ok, port} = :inet.port(server)
      {:ok, s} = open.()
      :ok = :gen_udp.connect(s, ip, port)
      {:ok, shared} = open.()

      assert {:ok, :want} = :plpmtud_socket.df(s)
      h = new!(%{family: family})
      assert {:error, {:no_df, :want}} = :plpmtud.connected(h, 0, %{socket: s})
      assert :plpmtud.probe_size(h) == nil, "no discovery without DF"

      for policy <- [:dont, :do, :want, :probe] do
        assert :ok = :plpmtud_socket.set_df(s, policy)
        assert {:ok, ^policy} = :plpmtud_socket.df(s)
      end

      assert [{:search_started, _}, {:probe_due, _}] = :plpmtud.connected(h, 0, %{socket: s})
      assert :plpmtud.probe_size(h) != nil
      assert {:ok, mtu} = :plpmtud_socket.kernel_mtu(s)
      assert mtu in 65_535..65_536, "loopback's MTU"
      assert {:error, _} = :plpmtud_socket.kernel_mtu(shared), "not connected"
      assert {:ok, ^mtu} = :plpmtud_socket.kernel_mtu(shared, {ip, port})
      assert {:ok, ^mtu} = :plpmtud_socket.kernel_mtu(s, {ip, port})
      :ok = :plpmtud_socket.set_df(shared, :probe)
      big = :binary.copy(<<7>>, 3000)

      if family == :inet do
        assert :ok = :plpmtud_socket.send_fragmentable(s, big)
        assert {:ok, {_, _, ^big}} = :gen_udp.recv(server, 0, 1_000)
        assert :ok = :plpmtud_socket.send_fragmentable(shared, {ip, port}, ["!", big])
        assert {:ok, {_, _, "!" <> ^big}} = :gen_udp.recv(server, 0, 1_000)
      else
        assert {:error, :enotsup} = :plpmtud_socket.send_fragmentable(s, big)
        assert {:error, :enotsup} = :plpmtud_socket.send_fragmentable(shared, {ip, port}, big)
      end

      assert {:ok, :probe} = :plpmtud_socket.df(s), "the policy is put back"
      assert {:ok, :probe} = :plpmtud_socket.df(shared)

      # EMSGSIZE on the unconnected socket: the size jumps to the kernel's
      # MTU towards that peer (loopback's), not one byte below the refused.
      h2 = new!(%{family: family, mtu_ceiling: 9000})
      [_ | _] = :plpmtud.connected(h2, 0)

      assert :unchanged =
               change(:plpmtud.on_send_refused(h2, {shared, {ip, port}}, :emsgsize, 1000, 1))

      assert :unchanged = change(:plpmtud.on_send_refused(h2, s, :emsgsize, 1000, 1))

      assert_raise ArgumentError, fn -> :plpmtud_socket.set_df(s, :sometimes) end
      assert_raise ArgumentError, fn -> :plpmtud_socket.kernel_mtu(shared, {ip, 70_000}) end

      assert_raise ArgumentError, fn ->
        :plpmtud_socket.send_fragmentable(shared, {:x, port}, "x")
      end

      :ok = :gen_udp.close(s)
      assert {:error, _} = :plpmtud_socket.df(s)
      assert {:error, _} = :plpmtud_socket.send_fragmentable(s, "x")
    end
  end
end

defmodule PLPMTUD.ErlangTickChangeTest do
  use ExUnit.Case, async: true
  import PLPMTUD.ErlangFacadeTest.Answers

  test "a probe timeout that changes the packet size says so" do
    {:ok, h} =
      :plpmtud.new(%{
        packet_overhead: 28,
        mtu_initial: 1344,
        probe_timeout_mode: :fixed,
        probe_timeout: 100
      })

    [_ | _] = :plpmtud.connected(h, 0)

    for {seq, now} <- [{1, 0}, {2, 100}] do
      assert :probe = :plpmtud.on_send(h, seq, 1296, now)
      assert [{:probe_lost, ^seq, 1296, :timeout} | rest] = :plpmtud.on_tick(h, now + 100)
      assert change(rest) == :unchanged
    end

    assert :probe = :plpmtud.on_send(h, 3, 1296, 200)
    assert [{:probe_lost, 3, 1296, :timeout} | rest] = :plpmtud.on_tick(h, 300)
    assert change(rest) == {:changed, 528}
    assert :plpmtud.packet_size(h) == 528
  end

  test "EMSGSIZE with the kernel's MTU above the refused size keeps the packet size" do
    {:ok, h} = :plpmtud.new(%{packet_overhead: 28, family: :inet6, mtu_initial: 1344})
    [_ | _] = :plpmtud.connected(h, 0)
    # An earlier probe's ICMP error, reported on this send: only the search
    # is bounded by the kernel's 1370; the packet size stays.
    assert [{:emsgsize, 1370, :accepted}, {:probe_due, 1302}] =
             :plpmtud_nif.prober_send_refused(h, 2, 1276, 1370)

    assert :plpmtud.packet_size(h) == 1276

    # Refused with no kernel MTU: nothing above 1343 leaves, which is below
    # the size in use: checked, the floor meanwhile, never set directly.
    assert [
             {:emsgsize, 1343, :accepted},
             {:black_hole_suspected, 1276},
             {:mtu_changed, 1276, 1212, :black_hole} | _
           ] = :plpmtud_nif.prober_send_refused(h, 3, 1276, nil)
  end
end
