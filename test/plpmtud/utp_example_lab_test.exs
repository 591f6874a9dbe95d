defmodule PLPMTUD.UtpExampleLabTest do
  @moduledoc """
  The Erlang example transport shaped like uTP (`:plpmtud_example_utp`)
  moves 2 MB with plpmtud across the lab's six paths of
  `bench/transfer.exs` (1500 clean, 1350 with ICMP, 1350 black hole, 1350
  mismatched link, the client's own link at 1400, 1350 -> 1280 -> 1350),
  IPv4 and IPv6: the
  stream arrives byte-identical, no congestion-window reduction is caused
  by probes alone, and on a path stable at the end the packet size ends
  within 2 bytes below the path's true payload (never above it; the
  example sends each size as 3 padded packets and searches to 2 bytes). When
  the path drops to 1280 and rises back mid-transfer, with ICMP blocked,
  the stream stalls less than 250 ms, the packet size is within 16 bytes of
  1280's within 1 s, and the rise is found at the next re-probe.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 60_000

  @bytes 2_000_000
  # IP and UDP headers plus the example's 20-byte header.
  @overhead %{inet: 20 + 8 + 20, inet6: 40 + 8 + 20}
  @server %{inet: :server4, inet6: :server6}

  # The transfer runs in the test process and leaves its mailbox empty
  # (gen_udp's udp_error messages for ICMP errors included).
  defp transfer(ns, family, events \\ [], options \\ %{}) do
    r = run(ns, family, events, options)
    assert Process.info(self(), :message_queue_len) == {:message_queue_len, 0}
    r
  end

  defp run(ns, family, events, options) do
    :plpmtud_example_utp.run(
      Map.merge(
        %{
          server_ip: Lab.addresses()[@server[family]],
          client_netns: ns.client,
          server_netns: ns.server,
          bytes: @bytes,
          sizing: :plpmtud,
          events: events,
          probe_interval: 1_000,
          stall_ms: 5_000,
          max_ms: 20_000
        },
        options
      )
    )
  end

  # A transfer on a fresh lab of `variant` whose path stays at `path_mtu`.
  defp sound_transfer(family, base, variant, lab_args, path_mtu) do
    ns = Lab.up!("#{base}#{family}", variant, lab_args)
    r = transfer(ns, family)
    assert_sound(r, family, path_mtu)
    r
  end

  defp assert_sound(r, family, path_mtu) do
    shown = inspect(Map.drop(r, [:prober]))
    assert r.completed and r.identical, shown
    assert r.crc_received == r.crc_sent, shown
    assert r.probe_window_reductions == 0, shown
    assert r.probes > 0, shown
    true_payload = path_mtu - @overhead[family]
    assert r.payload_at_end <= true_payload, shown
    # The size the example followed from the prober's answers is the prober's.
    assert r.payload_at_end == r.prober.packet, shown

    if checking_at_the_end?(r) do
      # A loss at the very end (a busy machine) started a black-hole check:
      # the floor is in use until its probe answers, by design.
      assert r.payload_at_end == r.prober.packet, shown
    else
      assert r.payload_at_end >= true_payload - 2, shown
    end
  end

  # The transfer ended while a black-hole check that began in its last
  # 50 ms ran (the size in use is then the floor).
  defp checking_at_the_end?(r) do
    r.prober.state == :base and r.prober.packet == r.prober.base and
      match?([_ | _], r.size_changes) and
      elem(List.last(r.size_changes), 0) >= r.time_ms - 50
  end

  for family <- [:inet, :inet6] do
    test "#{family}: 1500 clean" do
      r = sound_transfer(unquote(family), "pute", "icmp", ["--mtus", "1500,1500,1500"], 1500)
      assert r.window_reductions == 0
    end

    test "#{family}: 1350 with ICMP" do
      sound_transfer(unquote(family), "puti", "icmp", [], 1350)
    end

    test "#{family}: 1350 black hole" do
      sound_transfer(unquote(family), "puth", "blackhole", [], 1350)
    end

    # The last link takes frames up to its MTU plus 4 bytes (VLAN_HLEN)
    # while r2 forwards at 1500: the path's MTU is 1354.
    test "#{family}: 1350 mismatched link" do
      sound_transfer(unquote(family), "putm", "mismatch", [], 1354)
    end

    test "#{family}: the client's own link at 1400 (a local EMSGSIZE)" do
      r = sound_transfer(unquote(family), "putc", "blackhole", ["--mtus", "1400,1500,1500"], 1400)
      assert r.send_refused > 0, inspect(Map.drop(r, [:prober]))
    end

    test "#{family}: 1350 -> 1280 -> 1350 mid-transfer with ICMP blocked" do
      family = unquote(family)
      ns = Lab.up!("putd#{family}", "blackhole")

      events = [
        {0.3, fn -> Lab.set_mtu!(ns.prefix, 1280) end},
        {0.5, fn -> Lab.set_mtu!(ns.prefix, 1350) end}
      ]

      # 40 MB: the half after the rise outlasts a 150 ms re-probe interval.
      r = transfer(ns, family, events, %{bytes: 40_000_000, probe_interval: 150})
      shown = inspect(Map.drop(r, [:prober]))
      assert_sound(r, family, 1350)
      assert r.longest_stall_ms < 250, shown
      assert r.fragmentable_sends > 0, shown
      [dropped_at, rose_at] = r.event_ms
      low = 1280 - @overhead[family]

      assert {at, _} =
               Enum.find(r.size_changes, fn {t, payload} ->
                 t >= dropped_at and payload in (low - 16)..low
               end),
             shown

      assert at - dropped_at < 1_000, shown

      assert Enum.any?(r.size_changes, fn {t, payload} -> t > rose_at and payload > low end),
             shown
    end
  end
end
