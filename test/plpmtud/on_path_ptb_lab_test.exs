defmodule PLPMTUD.OnPathPtbLabTest do
  @moduledoc """
  Issue 21 item 6: a forger ON the path (inside r1 of the black-hole lab,
  reading every packet it forwards) answers each large datagram with a Packet-Too-Big that quotes
  the datagram itself, nonce and all, reporting the family's minimum. Such
  a PTB passes every check of the quote, so only a probe can refute it: it
  must never set the PLPMTU (RFC 8899 §4.6.2). The PLPMTU may sit at the
  floor while a check probe of it is out; that probe's ack restores it.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.{Prober, Responder}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  setup_all do
    %{forge: Lab.build_forge_ptb!()}
  end

  defp settle(prober, limit \\ 10_000) do
    receive do
      {:plpmtud, ^prober, {:search_complete, mtu}} -> mtu
    after
      limit -> flunk("no completed search")
    end
  end

  defp changes(prober, acc \\ []) do
    receive do
      {:plpmtud, ^prober, {:mtu_changed, old, new, reason}} ->
        changes(prober, [{old, new, reason} | acc])

      {:plpmtud, ^prober, _other} ->
        changes(prober, acc)
    after
      0 -> Enum.reverse(acc)
    end
  end

  for {family, server_key, floor, forged} <- [
        {"ipv4", :server4, 576, 576},
        {"ipv6", :server6, 1280, 1280}
      ] do
    test "#{family}: PTBs forged on the path quoting the real probes never set the PLPMTU",
         %{forge: forge} do
      # A black hole: r1 and r2 send no PTB of their own, the forger does.
      ns = Lab.up!("plo#{unquote(family)}", "blackhole")
      start_supervised!({Responder, netns: ns.server})
      server = Lab.addresses()[unquote(server_key)]

      prober =
        start_supervised!(
          {Prober,
           peer: {server, Responder.default_port()},
           heartbeat: 50,
           config: [min_probe_timeout: 50],
           socket_options: [netns: ns.client],
           subscribe: [self()]}
        )

      settled = settle(prober)
      assert settled in 1334..1350
      _ = changes(prober)

      # The forger answers every UDP datagram of 1300 bytes or more (every
      # probe above the floor, check probes included) for 3 s.
      forger =
        Task.async(fn ->
          System.cmd(
            "ip",
            ~w(netns exec #{ns.r1} #{forge} sniff #{unquote(forged)} 200 3 1300 #{Responder.default_port()}),
            stderr_to_stdout: true
          )
        end)

      Process.sleep(300)

      for _ <- 1..5 do
        _ = Prober.probe_now(prober)
        Process.sleep(300)
      end

      {out, status} = Task.await(forger, 10_000)
      assert status == 0, out
      [_, sent] = Regex.run(~r/sent (\d+) on-path/, out)
      assert String.to_integer(sent) > 0, out
      _ = Prober.probe_now(prober)
      assert settle(prober) in 1334..1350

      seen = changes(prober)
      stats = Prober.info(prober).stats

      IO.puts(
        "\n  #{unquote(family)} on-path forger: #{sent} PTBs sent, #{stats.ptb_accepted} matched a probe, " <>
          "PLPMTU changes: #{inspect(seen)}"
      )

      assert stats.ptb_accepted > 0, "the forgeries quoted real probes: #{inspect(stats)}"
      # Every change is the floor of a check or a probe's ack: none by a PTB.
      assert [] ==
               Enum.reject(seen, fn {_old, new, reason} ->
                 reason == :probe_acked or (reason == :black_hole and new == unquote(floor))
               end)

      # A late heartbeat on this busy machine may start a check meanwhile:
      # wait (bounded) for the size in use to be the one settled.
      assert Enum.any?(1..40, fn _ ->
               Prober.packet_size(prober) in 1334..1350 or (Process.sleep(50) && false)
             end)
    end
  end
end
