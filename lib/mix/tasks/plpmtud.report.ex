defmodule Mix.Tasks.Plpmtud.Report do
  @shortdoc "Probes hosts and prints what plpmtud knows about the paths"

  @moduledoc """
  Discovers the path MTU to each host given (as `mix plpmtud.probe` does,
  recording the results in the cache), then prints the node's diagnostics:
  per-path MTUs, their distribution, counters and warnings.

      mix plpmtud.report [HOST[:PORT] ...] [--mode udp|icmp] [--ipv6] [--netns NS]

  A host is a name or an address; the port is the responder's (4821 unless
  given). A host that does not resolve, a prober that cannot start or an
  unknown option stops the task with one line and exit status 1.
  """

  use Mix.Task

  alias PLPMTUD.CLI

  @task "plpmtud.report"
  @switches [mode: :string, ipv6: :boolean, netns: :string]

  @impl Mix.Task
  def run(args) do
    {opts, targets} = CLI.parse!(@task, args, @switches)
    mode = parse_mode(opts[:mode] || "udp")
    family = if opts[:ipv6], do: :inet6, else: :inet
    Mix.Task.run("app.start")

    for target <- targets do
      {ip, port} = CLI.target!(@task, target, family)
      discover(target, ip, port || PLPMTUD.Responder.default_port(), mode, opts[:netns])
    end

    print(PLPMTUD.Diagnostics.report())
  end

  defp parse_mode("udp"), do: :udp
  defp parse_mode("icmp"), do: :icmp
  defp parse_mode(other), do: CLI.fail!(@task, "--mode must be udp or icmp, got: #{other}")

  defp discover(target, ip, port, mode, netns) do
    options = [
      peer: {ip, port},
      mode: mode,
      cache: true,
      socket_options: [netns: netns],
      subscribe: [self()]
    ]

    case PLPMTUD.Prober.start_link(options) do
      {:ok, _prober} ->
        receive do
          {:plpmtud, _, {:search_complete, _, _}} -> :ok
          {:plpmtud, _, {:fallback, _, _}} -> :ok
        after
          30_000 -> Mix.shell().info("#{target}: no result in 30 s")
        end

      {:error, reason} ->
        CLI.fail!(@task, "#{target}: cannot probe: #{CLI.describe(reason)}")
    end
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
