defmodule Mix.Tasks.Plpmtud.Report do
  @shortdoc "Probes hosts and prints what plpmtud knows about the paths"

  @moduledoc """
  Discovers the path MTU to each host given (as `mix plpmtud.probe` does,
  recording the results in the cache; a line of progress every 2 s while a
  search runs), then prints the node's diagnostics: one line per host
  (address, family, path MTU and payload in bytes, state, what the cache
  holds), the MTU distribution over hosts (each host counted once),
  counters, the cache's figures and warnings.

      mix plpmtud.report [HOST[:PORT] ...] [--mode udp|icmp] [--ipv6] [--netns NS]

  A host is a name or an address; the port is the responder's (4821 unless
  given). A host that does not resolve, a prober that cannot start or an
  unknown option stops the task with one line and exit status 1.
  """

  use Mix.Task

  alias PLPMTUD.{CLI, Diagnostics}

  @task "plpmtud.report"
  @switches [mode: :string, ipv6: :boolean, netns: :string]
  @progress_ms 2_000
  @give_up_ms 30_000

  @impl Mix.Task
  def run(args) do
    {opts, targets} = CLI.parse!(@task, args, @switches)
    mode = parse_mode(opts[:mode] || "udp")
    family = if opts[:ipv6], do: :inet6, else: :inet
    Mix.Task.run("app.start")

    probers =
      for target <- targets do
        {ip, port} = CLI.target!(@task, target, family)
        discover(target, ip, port || PLPMTUD.Responder.default_port(), mode, opts[:netns])
      end

    print(Diagnostics.report())
    # Its probers were for this report only.
    Enum.each(probers, &GenServer.stop/1)
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
      {:ok, prober} ->
        started = PLPMTUD.now_ms()
        await(target, prober, started)
        prober

      {:error, reason} ->
        CLI.fail!(@task, "#{target}: cannot probe: #{CLI.describe(reason)}")
    end
  end

  # Waits for the search's outcome, with a line of progress every 2 s.
  defp await(target, prober, started) do
    receive do
      {:plpmtud, ^prober, {:search_complete, _}} -> :ok
      {:plpmtud, ^prober, {:fallback, _, _}} -> :ok
    after
      @progress_ms ->
        elapsed = PLPMTUD.now_ms() - started

        if elapsed >= @give_up_ms do
          Mix.shell().info("#{target}: no result in #{div(@give_up_ms, 1000)} s")
        else
          stats = PLPMTUD.Prober.info(prober).stats

          Mix.shell().info(
            "#{target}: still probing: #{count(stats.probes_sent, "probe")}, " <>
              "current PLPMTU #{PLPMTUD.Prober.packet_size(prober)}"
          )

          await(target, prober, started)
        end
    end
  end

  defp print(report) do
    info = &Mix.shell().info/1
    info.("plpmtud report")
    cache = Map.new(report.cache)
    probers = Enum.uniq_by(report.probers, &host/1)
    probed = for %{peer: {ip, _}} <- probers, into: MapSet.new(), do: ip

    for p <- probers, do: info.("  " <> prober_line(p, cache))

    for {ip, e} <- report.cache, not MapSet.member?(probed, ip) do
      info.("  #{Diagnostics.format_peer(ip, nil)}  #{family(ip)}  " <> cached(e, "path MTU"))
    end

    info.("  MTU distribution: #{distribution(report.mtu_distribution)}")
    info.("  counters: #{counters(report.totals)}")
    info.("  cache: #{cache_stats(report.cache_stats)}")

    case report.warnings do
      [] -> info.("  no warnings")
      warnings -> Enum.each(warnings, &info.("  warning: " <> &1))
    end
  end

  defp host(%{peer: {ip, _port}}), do: ip
  defp host(%{pid: pid}), do: pid

  defp prober_line(%{peer: {ip, port}} = p, cache) do
    line = "#{Diagnostics.format_peer(ip, port)}  #{family(ip)}  #{path_mtu(p)}"

    case cache do
      %{^ip => entry} -> line <> "; " <> cached(entry, "cached")
      _ -> line
    end
  end

  defp prober_line(%{pid: pid} = p, _cache),
    do: "prober #{inspect(pid)} (fed by a transport)  #{path_mtu(p)}"

  # Nothing said no (a loss, a PTB, EMSGSIZE): the ceiling stopped the search.
  defp path_mtu(%{info: %{state: :search_complete} = i, stats: s})
       when s.probes_lost_timeout + s.probes_lost_dup_ack + s.ptb_accepted + s.emsgsize_limits ==
              0,
       do:
         "path MTU at least #{bytes(i.packet_ip)} (payload #{bytes(i.packet_ip - i.overhead)}), " <>
           "search complete at the ceiling (#{bytes(i.ceiling_ip)})"

  defp path_mtu(%{info: i}),
    do:
      "path MTU #{bytes(i.packet_ip)} (payload #{bytes(i.packet_ip - i.overhead)}), #{state(i.state)}"

  defp cached(entry, label) do
    "#{label} #{bytes(entry.mtu)} (confidence #{entry.confidence} %, " <>
      "#{count(length(entry.history), "change")})"
  end

  defp family(ip) when tuple_size(ip) == 8, do: "IPv6"
  defp family(_ip), do: "IPv4"

  defp state(state), do: state |> to_string() |> String.replace("_", " ")

  defp bytes(n), do: count(n, "byte")

  defp count(n, noun), do: count(n, noun, noun <> "s")
  defp count(1, noun, _plural), do: "1 #{noun}"
  defp count(n, _noun, plural), do: "#{n} #{plural}"

  defp distribution(mtus) when map_size(mtus) == 0, do: "no paths yet"

  defp distribution(mtus) do
    mtus
    |> Enum.sort_by(fn {mtu, _} -> -mtu end)
    |> Enum.map_join(", ", fn {mtu, hosts} -> "#{bytes(mtu)}: #{count(hosts, "host")}" end)
  end

  defp counters(totals) do
    totals
    |> Enum.sort()
    |> Enum.map_join(", ", fn {key, n} ->
      "#{key |> to_string() |> String.replace("_", " ")} #{n}"
    end)
  end

  defp cache_stats(stats) do
    "#{count(stats.size, "entry", "entries")}, #{count(stats.hits, "hit")}, #{count(stats.misses, "miss", "misses")}, " <>
      "#{count(stats.evictions, "eviction")}, #{count(stats.expirations, "expiration")}"
  end
end
