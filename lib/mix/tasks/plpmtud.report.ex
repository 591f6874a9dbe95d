defmodule Mix.Tasks.Plpmtud.Report do
  @shortdoc "Probes hosts and prints what plpmtud knows about the paths"

  @moduledoc """
  Discovers the path MTU to each host given (as `mix plpmtud.probe` does,
  recording the results in the cache), then prints the node's diagnostics:
  per-path MTUs, their distribution, counters and warnings.

      mix plpmtud.report [HOST ...] [--mode udp|icmp] [--netns NS]
  """

  use Mix.Task

  @impl Mix.Task
  def run(args) do
    {opts, hosts, _} = OptionParser.parse(args, strict: [mode: :string, netns: :string])
    Mix.Task.run("app.start")
    mode = if opts[:mode] == "icmp", do: :icmp, else: :udp

    for host <- hosts do
      {:ok, ip} = :inet.parse_address(String.to_charlist(host))

      {:ok, _} =
        PLPMTUD.Prober.start_link(
          peer: {ip, PLPMTUD.Responder.default_port()},
          mode: mode,
          cache: true,
          socket_options: [netns: opts[:netns]],
          subscribe: [self()]
        )

      receive do
        {:plpmtud, _, {:search_complete, _}} -> :ok
        {:plpmtud, _, {:fallback, _, _}} -> :ok
      after
        30_000 -> Mix.shell().info("#{host}: no result in 30 s")
      end
    end

    print(PLPMTUD.diagnostics())
  end

  defp print(report) do
    info = &Mix.shell().info/1
    info.("plpmtud report")

    for p <- report.probers do
      peer = if p.peer, do: :inet.ntoa(elem(p.peer, 0)), else: "(fed)"

      info.(
        "  prober #{peer}: #{p.info.state}, MTU #{p.info.mtu}, payload #{p.info.payload_size}"
      )
    end

    for {ip, e} <- report.cache do
      info.(
        "  cache #{:inet.ntoa(ip)}: MTU #{e.mtu}, confidence #{e.confidence}, #{length(e.history)} change(s)"
      )
    end

    info.("  MTU distribution: #{inspect(report.mtu_distribution)}")
    info.("  counters: #{inspect(report.totals)}")
    info.("  cache: #{inspect(report.cache_stats)}")

    case report.warnings do
      [] -> info.("  no warnings")
      warnings -> Enum.each(warnings, &info.("  warning: " <> &1))
    end
  end
end
