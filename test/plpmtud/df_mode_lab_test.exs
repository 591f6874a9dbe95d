defmodule PLPMTUD.DfModeLabTest do
  @moduledoc """
  Which DF mode a prober's socket must use: the kernel's per-destination
  PMTU cache can be poisoned by a forged PTB that quotes the real flow.
  With `df: :do` the kernel then refuses sends above the poisoned value;
  with `df: :probe` (IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE) the socket
  ignores the cache and its probes still leave and are answered.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.{Responder, Socket, Wire}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  # The probe size (IP bytes): above the poisoned values, below the lab's
  # real path MTU of 1350.
  @size 1300

  setup_all do
    %{forge: Lab.build_forge_ptb!()}
  end

  # One forged PTB of `mtu` quoting the flow of `socket` (its real
  # addresses and ports).
  defp forge_for(forge, ns, socket, mtu) do
    {:ok, {client, client_port}} = Socket.sockname(socket)
    {:ok, {server, server_port}} = Socket.peername(socket)
    client = to_string(:inet.ntoa(client))

    args = [
      client,
      "#{mtu}",
      "flow",
      "1",
      client,
      "#{client_port}",
      to_string(:inet.ntoa(server)),
      "#{server_port}"
    ]

    {out, status} =
      System.cmd("ip", ["netns", "exec", ns.attacker, forge | args], stderr_to_stdout: true)

    assert status == 0, out
  end

  # UDP payload of a datagram of @size IP bytes, by a prober's conversion.
  defp payload(family) do
    {:ok, p} = PLPMTUD.new(family: family, packet_overhead: 8)
    @size - PLPMTUD.info(p).overhead
  end

  # Sends a probe of @size IP bytes; on success, waits for the responder's ack.
  defp probe(socket, family) do
    nonce = Wire.nonce()

    with :ok <- Socket.send(socket, Wire.probe(:udp, family, nonce, {@size, payload(family)})) do
      receive do
        {:plpmtud_udp, ^socket, _ip, _port, data} ->
          assert {:ack, ^nonce, received} = Wire.parse_reply(:udp, family, data)
          {:answered, received}
      after
        3_000 -> :unanswered
      end
    end
  end

  # {forged PTB MTU, the kernel's path MTU after it}, in this order. IPv4:
  # the forged value, or min_pmtu (552) when lower. IPv6: a value below the
  # minimum MTU of 1280 is ignored (RFC 8201 section 4; Linux >= 5.9), 1280
  # is taken.
  for {family, server_key, forgeries} <- [
        {:inet, :server4, [{1000, 1000}, {296, 552}]},
        {:inet6, :server6, [{1000, 1500}, {1280, 1280}]}
      ] do
    test "#{family}: forged PTBs poison the kernel's PMTU; df: :do sockets then get EMSGSIZE, df: :probe sockets keep probing",
         %{forge: forge} do
      family = unquote(family)
      payload = payload(family)
      # A black hole (routers send no ICMP), with an attacker beside r1.
      ns = Lab.up!("pldf#{family}", "blackhole", ["--attacker"])
      start_supervised!({Responder, netns: ns.server})
      peer = {Lab.addresses()[unquote(server_key)], Responder.default_port()}

      sockets =
        for df <- [:probe, :do], into: %{} do
          {:ok, socket} = Socket.open(0, connect: peer, df: df, netns: ns.client)
          {df, socket}
        end

      # Before any forgery both reach the responder at @size.
      for {_df, socket} <- sockets do
        assert {:answered, ^payload} = probe(socket, family)
        assert {:ok, 1500} = Socket.path_mtu(socket)
      end

      for {forged, poisoned} <- unquote(forgeries) do
        for {_df, socket} <- sockets do
          forge_for(forge, ns, socket, forged)
          # The kernel matched the forgery to the socket (its error queue).
          assert_receive {:plpmtud_ptb, ^socket, %{mtu: ^forged}}, 3_000
        end

        {:ok, do_mtu} = Socket.path_mtu(sockets.do)
        {:ok, probe_mtu} = Socket.path_mtu(sockets.probe)
        do_result = probe(sockets.do, family)
        probe_result = probe(sockets.probe, family)

        IO.puts(
          "\n  #{family} forged PTB #{forged}: path_mtu #{do_mtu} (df: :do), #{probe_mtu} (df: :probe); " <>
            "#{@size}-byte probe: df: :do #{inspect(do_result)}, df: :probe #{inspect(probe_result)}"
        )

        # The cache is per destination: both sockets see the same value.
        assert do_mtu == poisoned
        assert probe_mtu == poisoned

        if poisoned < @size do
          assert do_result == {:error, {:emsgsize, poisoned}}
        else
          assert do_result == {:answered, payload}
        end

        assert probe_result == {:answered, payload}
      end
    end
  end
end
