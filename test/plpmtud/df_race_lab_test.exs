defmodule PLPMTUD.DfRaceLabTest do
  @moduledoc """
  DF-off sends racing probes on one socket, across a real 1350 black-hole
  path: the fragmentable datagrams cross in fragments (as they should), and
  no probe does. A probe that left with another sender's DF off would
  arrive whole and "succeed" above the path MTU.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.Socket
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  @port 7_171
  @senders 3
  @calls 3_000

  # Counts datagrams by their first byte until `quiet_ms` pass without one.
  defp count(socket, counts, quiet_ms) do
    receive do
      {:plpmtud_udp, ^socket, _ip, _port, <<marker, _::binary>> = data} ->
        count(socket, Map.update(counts, {marker, byte_size(data)}, 1, &(&1 + 1)), quiet_ms)
    after
      quiet_ms -> counts
    end
  end

  defp probe_until_stopped(s, probe, n) do
    receive do
      :stop -> n
    after
      0 ->
        :ok = Socket.send(s, probe)
        probe_until_stopped(s, probe, n + 1)
    end
  end

  test "ipv4: no probe crosses a 1350 black hole while DF-off sends race it" do
    ns = Lab.up!("pldfrace", "blackhole")
    server = Lab.addresses().server4
    {:ok, sink} = Socket.open(@port, ip: server, active: true, netns: ns.server)
    {:ok, s} = Socket.open(0, connect: {server, @port}, df: :probe, netns: ns.client)
    # 1400 and 1500 IP bytes: both above the 1350 path.
    probe = "P" <> :binary.copy(<<0>>, 1400 - 28 - 1)
    fragmentable = "F" <> :binary.copy(<<0>>, 1500 - 28 - 1)

    parent = self()

    prober =
      Task.async(fn ->
        :ok = Socket.send(s, probe)
        send(parent, :probing)
        probe_until_stopped(s, probe, 1)
      end)

    assert_receive :probing, 5_000

    senders =
      for _ <- 1..@senders do
        Task.async(fn ->
          for _ <- 1..@calls, reduce: 0 do
            n -> if Socket.send_fragmentable(s, fragmentable) == :ok, do: n + 1, else: n
          end
        end)
      end

    fragmentable_sent = senders |> Task.await_many(60_000) |> Enum.sum()
    send(prober.pid, :stop)
    probes_sent = Task.await(prober, 10_000)
    counts = count(sink, %{}, 500)
    probes_crossed = Map.get(counts, {?P, byte_size(probe)}, 0)
    fragments_joined = Map.get(counts, {?F, byte_size(fragmentable)}, 0)

    IO.puts(
      "\n  #{probes_sent} probes and #{fragmentable_sent} DF-off sends raced: " <>
        "#{probes_crossed} probes crossed, #{fragments_joined} DF-off datagrams crossed in fragments"
    )

    assert probes_sent > 100
    assert fragments_joined > 0, "the DF-off sends cross the path in fragments"
    assert probes_crossed == 0, "probes crossed the 1350 path with DF off"
    assert Socket.df(s) == {:ok, :probe}
  end

  for backend <- [:inet, :socket] do
    test "ipv4, one gen_udp socket shared as aiutp shares it (#{backend} backend): no probe sent with send_to/4 crosses" do
      ns = Lab.up!("pldfgen#{unquote(backend) |> to_string() |> String.first()}", "blackhole")
      server = Lab.addresses().server4
      {:ok, sink} = Socket.open(@port, ip: server, active: true, netns: ns.server)

      {:ok, g} =
        :gen_udp.open(0, [
          {:inet_backend, unquote(backend)},
          :binary,
          netns: ~c"/run/netns/#{ns.client}"
        ])

      :ok = :plpmtud_socket.set_df(g, :do)
      probe = "P" <> :binary.copy(<<0>>, 1400 - 28 - 1)
      fragmentable = "F" <> :binary.copy(<<0>>, 1500 - 28 - 1)
      parent = self()

      send_probe = fn -> :ok = :plpmtud_socket.send_to(g, server, @port, probe) end

      prober =
        Task.async(fn ->
          send_probe.()
          send(parent, :probing)
          gen_udp_probe_until_stopped(send_probe, 1)
        end)

      assert_receive :probing, 5_000

      senders =
        for _ <- 1..@senders do
          Task.async(fn ->
            for _ <- 1..@calls, reduce: 0 do
              n ->
                case :plpmtud_socket.send_fragmentable(g, {server, @port}, fragmentable) do
                  :ok -> n + 1
                  _ -> n
                end
            end
          end)
        end

      fragmentable_sent = senders |> Task.await_many(60_000) |> Enum.sum()
      send(prober.pid, :stop)
      probes_sent = Task.await(prober, 10_000)
      counts = count(sink, %{}, 500)
      probes_crossed = Map.get(counts, {?P, byte_size(probe)}, 0)
      fragments_joined = Map.get(counts, {?F, byte_size(fragmentable)}, 0)

      IO.puts(
        "\n  gen_udp (#{unquote(backend)}): #{probes_sent} probes and #{fragmentable_sent} DF-off sends raced: " <>
          "#{probes_crossed} probes crossed, #{fragments_joined} DF-off datagrams crossed in fragments"
      )

      assert probes_sent > 100
      assert fragments_joined > 0, "the DF-off sends cross the path in fragments"
      assert probes_crossed == 0, "probes crossed the 1350 path with DF off"
      assert :plpmtud_socket.df(g) == {:ok, :do}
      :gen_udp.close(g)
    end
  end

  defp gen_udp_probe_until_stopped(send_probe, n) do
    receive do
      :stop -> n
    after
      0 ->
        send_probe.()
        gen_udp_probe_until_stopped(send_probe, n + 1)
    end
  end

  test "ipv4: per-destination kernel MTU of unconnected sockets in a lab namespace" do
    ns = Lab.up!("pldfmtu", "icmp")
    server = Lab.addresses().server4
    {:ok, _sink} = Socket.open(@port, ip: server, active: true, netns: ns.server)
    {:ok, s} = Socket.open(0, df: :do, netns: ns.client)
    assert {:ok, 1500} = Socket.path_mtu_to(s, server, @port)
    big = :binary.copy(<<0>>, 1400 - 28)
    # r1's Fragmentation Needed (1370) reaches the client's kernel.
    :ok = Socket.send_to(s, server, @port, big)
    assert_receive {:plpmtud_ptb, ^s, %{mtu: 1370}}, 3_000
    assert {:ok, 1370} = Socket.path_mtu_to(s, server, @port)
    # The refusal carries the kernel's MTU towards that peer, read in the
    # socket's namespace (the VM's own has no route there).
    assert {:error, {:emsgsize, 1370}} = Socket.send_to(s, server, @port, big)

    # A gen_udp socket opened in the namespace, through the facade: the
    # answer is that namespace's (read by a thread that enters it).
    {:ok, g} = :gen_udp.open(0, [:binary, netns: ~c"/run/netns/#{ns.client}"])
    assert {:ok, 1370} = :plpmtud_socket.kernel_mtu(g, {server, @port})
    {:ok, v6} = :gen_udp.open(0, [:binary, :inet6, netns: ~c"/run/netns/#{ns.client}"])
    assert {:ok, 1500} = :plpmtud_socket.kernel_mtu(v6, {Lab.addresses().server6, @port})
  end
end
