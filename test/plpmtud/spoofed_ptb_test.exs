defmodule PLPMTUD.SpoofedPtbTest do
  use ExUnit.Case, async: false

  alias PLPMTUD.{Prober, Responder, Socket}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 300_000

  setup_all do
    %{forge: Lab.build_forge_ptb!()}
  end

  defp forge(forge, ns, args) do
    {out, status} =
      System.cmd("ip", ["netns", "exec", ns.attacker, forge | args], stderr_to_stdout: true)

    assert status == 0, out
  end

  defp settle(prober, limit \\ 10_000) do
    receive do
      {:plpmtud, ^prober, {:search_complete, mtu}} -> mtu
    after
      limit -> flunk("no completed search")
    end
  end

  for {family, server_key, client_key} <- [
        {"ipv4", :server4, :client4},
        {"ipv6", :server6, :client6}
      ] do
    test "#{family}: forged PTBs of 68, 296, 552 and 1000 bytes are all refused and counted, also by an attacker who counts ids",
         %{
           forge: forge
         } do
      # A black hole (routers send no ICMP), with an attacker beside r1.
      ns = Lab.up!("pls#{unquote(family)}", "blackhole", ["--attacker"])
      start_supervised!({Responder, netns: ns.server})
      server = Lab.addresses()[unquote(server_key)]
      client = Lab.addresses()[unquote(client_key)]

      prober =
        start_supervised!(
          {Prober,
           peer: {server, Responder.default_port()},
           heartbeat: 100,
           socket_options: [netns: ns.client],
           subscribe: [self()]}
        )

      assert settle(prober) in 1334..1350
      {:ok, {_, client_port}} = Socket.sockname(:sys.get_state(prober).source_state.socket)

      flow = [
        to_string(:inet.ntoa(client)),
        "#{client_port}",
        to_string(:inet.ntoa(server)),
        "#{Responder.default_port()}"
      ]

      for mtu <- [68, 296, 552, 1000], mode <- ["random", "guessed", "flow"] do
        # Half during a search, half while settled.
        Prober.probe_now(prober)
        forge(forge, ns, [to_string(:inet.ntoa(client)), "#{mtu}", mode, "3" | flow])
        assert settle(prober) in 1334..1350
        forge(forge, ns, [to_string(:inet.ntoa(client)), "#{mtu}", mode, "3" | flow])
      end

      # An attacker who knows the old id scheme (1, 2, 3, ... shared with
      # heartbeats) quotes ids 1..500 of the real flow while a search runs.
      for _ <- 1..3 do
        Prober.probe_now(prober)
        forge(forge, ns, [to_string(:inet.ntoa(client)), "1000", "counter", "500" | flow])
        assert settle(prober) in 1334..1350
      end

      Process.sleep(300)
      stats = Prober.info(prober).stats

      IO.puts(
        "\n  #{unquote(family)} forged PTBs: accepted #{stats.ptb_accepted}, unmatched #{stats.ptb_unmatched}, " <>
          "not probing #{stats.ptb_not_probing}, below floor #{stats.ptb_below_floor} " <>
          "(1 572 sent, 1 524 quoting the real flow)"
      )

      assert stats.ptb_accepted == 0
      # Only "flow" and "counter" forgeries match a socket; the kernel drops the others.
      assert stats.ptb_ignored >= 12 + 500, inspect(stats)
      # A search now ends within milliseconds, before the forger's packets
      # arrive, so most are not matched against a probe at all; the core's
      # matching is tested on its own (prober_rules: spoofed, unmatched).
      assert stats.ptb_unmatched + stats.ptb_not_probing == stats.ptb_ignored
      assert Prober.packet_size(prober) in 1334..1350
      assert Prober.info(prober).state == :search_complete
      # Data kept flowing: the heartbeats were acknowledged all along.
      assert stats.black_holes == 0
      assert PLPMTUD.info(:sys.get_state(prober).handle).invariants == :ok
    end
  end
end
