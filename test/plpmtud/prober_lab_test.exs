defmodule PLPMTUD.ProberLabTest do
  use ExUnit.Case, async: false

  alias PLPMTUD.{Prober, Responder}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  @heartbeat 200
  @interval 3_000

  # Waits (bounded) until the prober's MTU satisfies `fun`; returns the ms it took.
  defp wait_for_mtu(prober, fun, limit_ms, started \\ System.monotonic_time(:millisecond)) do
    elapsed = System.monotonic_time(:millisecond) - started
    mtu = Prober.packet_size(prober)

    cond do
      fun.(mtu) and Prober.info(prober).state == :search_complete -> elapsed
      elapsed > limit_ms -> flunk("MTU #{mtu} after #{elapsed} ms")
      true -> Process.sleep(20) && wait_for_mtu(prober, fun, limit_ms, started)
    end
  end

  for {family, key} <- [{"ipv4", :server4}, {"ipv6", :server6}] do
    test "#{family}: the last link drops to 1280 and rises back to 1350 (black hole, no ICMP)" do
      ns = Lab.up!("plc#{unquote(family)}", "blackhole")
      start_supervised!({Responder, netns: ns.server})
      ip = Lab.addresses()[unquote(key)]
      floor = if unquote(family) == "ipv6", do: 1280, else: 576

      prober =
        start_supervised!(
          {Prober,
           peer: {ip, Responder.default_port()},
           heartbeat: @heartbeat,
           socket_options: [netns: ns.client],
           config: [mtu_probe_interval: @interval, probe_timeout_mode: :fixed, probe_timeout: 100],
           subscribe: [self()]}
        )

      wait_for_mtu(prober, &(&1 in 1334..1350), 10_000)
      Lab.set_mtu!(ns.prefix, 1280)
      # Detection: black_hole_threshold (3) heartbeats lost, one burst each,
      # then max_probes (3) checks of the PLPMTU, each one probe timeout.
      # Then a search below the lost size must end within 16 bytes of 1280,
      # not at the floor.
      bound = 3 * @heartbeat + 3 * 100 + 1_000
      took = wait_for_mtu(prober, &(&1 in 1264..1280), bound)
      _ = floor
      assert_received {:plpmtud, ^prober, {:black_hole_confirmed, _}}
      assert took <= bound
      Lab.set_mtu!(ns.prefix, 1350)
      wait_for_mtu(prober, &(&1 in 1334..1350), @interval + 3_000)
      assert Prober.info(prober).stats.black_holes >= 1
    end
  end
end
