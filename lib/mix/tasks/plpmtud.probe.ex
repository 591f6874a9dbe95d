defmodule Mix.Tasks.Plpmtud.Probe do
  @shortdoc "Discovers the path MTU to a host and prints each probe"

  @moduledoc """
  Discovers the path MTU to a host, printing each probe as it happens.

      mix plpmtud.probe HOST[:PORT] [--mode udp|icmp] [--floor N] [--ceiling N]
                        [--strategy binary|common] [--ipv6] [--netns NS] [--timeout MS]

    * `--mode udp` (default) probes a `mix plpmtud.responder` on the host
      (port 4821 unless given); `--mode icmp` sends ICMP echo requests to any
      host that answers ping (needs `net.ipv4.ping_group_range` to allow the user).
    * `--floor`, `--ceiling`: the search range in IP bytes (576..1500).
    * `--strategy common` tries common path MTUs first.
    * `--ipv6` resolves the host to an IPv6 address.
    * `--netns NS` probes from inside a network namespace (root).

  Ends with the path MTU, the UDP payload it allows (in ICMP mode: the ICMP
  echo data), the probes used and the time taken; when the search stopped at
  its ceiling (loopback, whose MTU is 65536), it says the path MTU is at
  least that. While a search takes longer than 2 s, a line
  `still probing: N probes, current PLPMTU X` follows every 2 s. Exit code
  0 on success, 1 on failure (also when no probe was answered at all, when
  nothing listens on the port, or for an unknown option), with a one-line
  message.
  """

  use Mix.Task

  alias PLPMTUD.{CLI, Diagnostics, PathProbe, Socket}

  # A line of progress this often while a search runs.
  @progress_ms 2_000

  @switches [
    mode: :string,
    floor: :integer,
    ceiling: :integer,
    strategy: :string,
    ipv6: :boolean,
    netns: :string,
    timeout: :integer
  ]

  @impl Mix.Task
  def run(args) do
    case CLI.parse!("plpmtud.probe", args, @switches) do
      {opts, [target]} ->
        Mix.Task.run("app.start")
        probe(target, opts)

      _ ->
        Mix.raise("usage: mix plpmtud.probe HOST[:PORT] [options]; see `mix help plpmtud.probe`")
    end
  end

  defp probe(target, opts) do
    family = if opts[:ipv6], do: :inet6, else: :inet
    mode = parse_mode(opts[:mode] || "udp")
    {ip, port} = CLI.target!("plpmtud.probe", target, family)
    port = if mode == :udp, do: port || PLPMTUD.Responder.default_port()

    config =
      [floor: opts[:floor], ceiling: opts[:ceiling], strategy: parse_strategy(opts[:strategy])]
      |> Enum.reject(fn {_, v} -> is_nil(v) end)
      |> Enum.map(fn {k, v} -> {config_key(k), v} end)

    Mix.shell().info(
      "plpmtud probe #{Diagnostics.format_peer(ip, port)} " <>
        "(#{mode}, #{family_label(Socket.family_of(ip))})"
    )

    run_options = [
      mode: mode,
      port: port || 0,
      netns: opts[:netns],
      timeout: opts[:timeout] || 60_000,
      config: config,
      on_event: &print_event/1,
      progress_every: @progress_ms
    ]

    case PathProbe.run(ip, run_options) do
      {:ok, %{state: :error, probes: probes}} ->
        Mix.raise("probe failed: #{unanswered(probes)}#{unanswered_hint(mode)}")

      {:ok, result} ->
        Mix.shell().info(
          "#{mtu_line(result, mode)} in #{count(result.probes, "probe")}, " <>
            "#{result.elapsed_ms} ms#{state_note(result.state)}"
        )

      {:error, reason} ->
        Mix.raise("probe failed: #{explain(reason, mode)}")
    end
  end

  defp config_key(:floor), do: :mtu_floor
  defp config_key(:ceiling), do: :mtu_ceiling
  defp config_key(key), do: key

  defp parse_mode("udp"), do: :udp
  defp parse_mode("icmp"), do: :icmp
  defp parse_mode(other), do: Mix.raise("--mode must be udp or icmp, got: #{other}")

  defp parse_strategy(nil), do: nil
  defp parse_strategy("binary"), do: :binary
  defp parse_strategy("common"), do: :common_values
  defp parse_strategy(other), do: Mix.raise("--strategy must be binary or common, got: #{other}")

  # Probe ids are random nonces: the size says which probe a line is about.
  defp print_event({:probe_sent, _id, size}),
    do: Mix.shell().info("  #{pad(size, 5)} bytes  sent")

  defp print_event({:probe_acked, _id, size, rtt}),
    do: Mix.shell().info("  #{pad(size, 5)} bytes  ok        #{rtt} ms")

  defp print_event({:probe_lost, _id, size, reason}),
    do: Mix.shell().info("  #{pad(size, 5)} bytes  lost (#{reason})")

  defp print_event({:ptb, mtu, verdict}),
    do: Mix.shell().info("       ICMP packet too big: mtu #{mtu} (#{verdict})")

  defp print_event({:emsgsize, mtu, _verdict}),
    do: Mix.shell().info("       local kernel: path MTU #{mtu} (EMSGSIZE)")

  defp print_event({:ignored, reason}),
    do: Mix.shell().info("       ignored a datagram (#{reason})")

  defp print_event({:icmp_error, reason}),
    do: Mix.shell().info("       ICMP error: #{CLI.describe(reason)}")

  defp print_event({:progress, %{probes: probes, mtu: mtu}}),
    do: Mix.shell().info("  still probing: #{count(probes, "probe")}, current PLPMTU #{mtu}")

  defp print_event(_prober_event), do: :ok

  defp pad(value, width), do: value |> to_string() |> String.pad_leading(width)

  # The ceiling stopped the search: the path may carry more.
  defp mtu_line(%{capped: true, mtu: mtu, ceiling: ceiling}, _mode),
    do:
      "path MTU at least #{mtu} (the ceiling, #{ceiling}, stopped the search; " <>
        "raise --ceiling to look further)"

  defp mtu_line(result, :udp), do: "path MTU #{result.mtu} (UDP payload #{result.udp_payload})"

  defp mtu_line(result, :icmp),
    do: "path MTU #{result.mtu} (ICMP echo data #{result.udp_payload})"

  defp count(1, noun), do: "1 #{noun}"
  defp count(n, noun), do: "#{n} #{noun}s"

  defp unanswered(1), do: "the only probe was not answered"
  defp unanswered(n), do: "none of #{n} probes was answered"

  defp family_label(:inet), do: "IPv4"
  defp family_label(:inet6), do: "IPv6"

  defp state_note(:search_complete), do: ""
  defp state_note(state), do: " (#{state})"

  defp unanswered_hint(:udp), do: " (is a responder running there? see mix plpmtud.responder)"
  defp unanswered_hint(:icmp), do: " (does the host answer ping?)"

  defp explain(:eacces, :icmp),
    do:
      "ICMP echo sockets are not allowed for this user (eacces); allow them with " <>
        "`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`"

  defp explain(:enetunreach, _), do: "network unreachable (no route to the host)"
  defp explain(:ehostunreach, _), do: "host unreachable"
  defp explain(:eperm, _), do: "operation not permitted (eperm)"
  defp explain(:econnrefused, :udp), do: "connection refused: is a responder running there?"
  defp explain(:timeout, _), do: "no answer before the timeout"
  defp explain(reason, _), do: inspect(reason)
end
