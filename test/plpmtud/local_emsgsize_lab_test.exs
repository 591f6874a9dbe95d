defmodule PLPMTUD.LocalEmsgsizeLabTest do
  @moduledoc """
  The sender's own interface is narrower than the ceiling (1400, as on
  Docker, VPN and cloud hosts) and the rest of the path is a black hole at
  1500: the only signal is the local kernel's EMSGSIZE. Discovery must go
  on at the kernel's MTU at once, never wait for a timeout that cannot come.
  """
  use ExUnit.Case, async: false

  alias PLPMTUD.{PathProbe, Prober, Responder}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 120_000

  for {family, key} <- [{"ipv4", :server4}, {"ipv6", :server6}] do
    test "#{family}: UDP and ICMP searches settle at 1400 in under 2 s" do
      ns = Lab.up!("ple#{unquote(family)}", "blackhole", ["--mtus", "1400,1500,1500"])
      start_supervised!({Responder, netns: ns.server})
      ip = Lab.addresses()[unquote(key)]
      parent = self()

      for mode <- [:udp, :icmp] do
        assert {:ok, result} =
                 PathProbe.run(ip,
                   mode: mode,
                   netns: ns.client,
                   timeout: 10_000,
                   on_event: &send(parent, {:event, &1})
                 )

        assert result.mtu == 1400, "#{mode}: #{inspect(result)}"
        assert result.state == :search_complete
        assert result.elapsed_ms < 2_000, "#{mode}: #{result.elapsed_ms} ms"
        assert_received {:event, {:emsgsize, 1400, :accepted}}
      end
    end

    test "#{family}: the autonomous prober without heartbeats settles at 1400" do
      ns = Lab.up!("plp#{unquote(family)}", "blackhole", ["--mtus", "1400,1500,1500"])
      start_supervised!({Responder, netns: ns.server})
      ip = Lab.addresses()[unquote(key)]

      prober =
        start_supervised!(
          {Prober,
           peer: {ip, Responder.default_port()},
           socket_options: [netns: ns.client],
           subscribe: [self()]}
        )

      assert_receive {:plpmtud, ^prober, {:search_complete, 1400}}, 3_000
      assert Prober.packet_size(prober) == 1400
      assert Prober.info(prober).stats.emsgsize_limits >= 1
      assert PLPMTUD.info(:sys.get_state(prober).handle).invariants == :ok
    end
  end
end
