defmodule PLPMTUD.CacheLabTest do
  use ExUnit.Case, async: false

  alias PLPMTUD.{Cache, Prober, Responder}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  defp completed(prober) do
    receive do
      {:plpmtud, ^prober, {:search_complete, mtu}} -> mtu
    after
      15_000 -> flunk("no completed search")
    end
  end

  test "a second connection to a cached destination confirms its MTU with one probe size" do
    ns = Lab.up!("plk", "blackhole")
    start_supervised!({Responder, netns: ns.server})
    server = Lab.addresses().server4
    Cache.delete(server)

    options = [
      peer: {server, Responder.default_port()},
      socket_options: [netns: ns.client],
      cache: true,
      subscribe: [self()]
    ]

    first = start_supervised!({Prober, options}, id: :first)
    mtu = completed(first)
    assert mtu in 1334..1350
    first_probes = Prober.info(first).stats.probes_sent
    assert %{mtu: ^mtu} = Cache.lookup(server)
    :ok = stop_supervised(:first)

    second = start_supervised!({Prober, options}, id: :second)
    assert completed(second) == mtu
    second_probes = Prober.info(second).stats.probes_sent
    IO.puts("\n  probes: first connection #{first_probes}, second (cached) #{second_probes}")
    # One size, sent as its 3 copies (the driver's probe_copies).
    assert second_probes == 3
  end
end
