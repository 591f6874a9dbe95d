defmodule Mix.Tasks.Plpmtud.Demo do
  @shortdoc "Shows path-MTU discovery on real kernel paths (network namespaces)"

  @moduledoc """
  The discovery demo. Builds the namespace lab (`scripts/lab`: client -> r1
  -> r2 -> server over links of 1500, 1370 and 1350 bytes) in several
  variants and, for IPv4 and IPv6, discovers the path MTU with plpmtud's
  default settings, with `aiutp_compat`, in ICMP-echo mode, and with
  `tracepath` when it is installed. Prints each probe of one run per variant
  and a table of all of them.

      mix plpmtud.demo [--quick] [--out FILE]

  Without root or `ip`, it runs the simulated path instead and says why.
  `--quick` runs only IPv4. `--out FILE` also writes the tables to FILE
  with the command, machine and date (`bench/results/demo.md`).
  """

  use Mix.Task

  alias PLPMTUD.{PathProbe, Prober, Responder}

  @lab Path.expand("../../../scripts/lab", __DIR__)
  @server4 {10, 71, 3, 2}
  @server6 {0xFD71, 3, 0, 0, 0, 0, 0, 2}

  @variants [
    {"a. ICMP allowed", ["--variant", "icmp"], 1350},
    {"b. ICMP black hole", ["--variant", "blackhole"], 1350},
    {"d. 5 % random loss", ["--variant", "icmp", "--loss", "5"], 1350},
    # The last link takes frames up to its MTU plus 4 bytes (a veth accepts
    # VLAN_HLEN more) while r2 forwards at 1500: the path carries 1354.
    {"e. mismatched link", ["--variant", "mismatch"], 1354}
  ]

  @impl Mix.Task
  def run(args) do
    {opts, _, _} = OptionParser.parse(args, strict: [quick: :boolean, out: :string])
    Mix.Task.run("app.start")

    case {lab_unavailable_reason(), opts[:out]} do
      {nil, out} ->
        lab_demo(if(opts[:quick], do: [:inet], else: [:inet, :inet6]), out, args)

      {reason, nil} ->
        simulated_demo(reason)

      {reason, _} ->
        Mix.raise("plpmtud.demo: --out needs the namespace lab: #{reason}")
    end
  end

  defp lab_unavailable_reason do
    cond do
      System.find_executable("ip") == nil -> "`ip` (iproute2) is not installed"
      System.cmd("id", ["-u"]) != {"0\n", 0} -> "network namespaces need root"
      true -> nil
    end
  end

  defp simulated_demo(reason) do
    Mix.shell().info(
      "No namespace lab here (#{reason}): discovery over a simulated path instead."
    )

    {_, status} =
      System.cmd("cargo", ~w(run -q --release -p plpmtud_core --example discover),
        into: IO.stream()
      )

    if status != 0, do: Mix.raise("the simulated demo failed")
  end

  # Unique per run; `scripts/lab gc` removes what an interrupted run left.
  defp prefix, do: "plpdemo-#{System.pid()}"

  defp lab_demo(families, out, args) do
    started = System.monotonic_time(:millisecond)
    {_, _status} = System.cmd(@lab, ["gc"], stderr_to_stdout: true)

    info(
      "plpmtud demo: path-MTU discovery on real kernel paths\n" <>
        "  client -> r1 (link 1500) -> r2 (link 1370) -> server (link 1350), IPv4 and IPv6\n"
    )

    {rows, changing} =
      try do
        rows =
          for {name, lab_args, true_mtu} <- @variants, family <- families do
            with_lab(lab_args, fn -> run_variant(name, family, true_mtu) end)
          end

        changing =
          for family <- families do
            with_lab(["--variant", "blackhole"], fn -> changing_mtu(family) end)
          end

        {rows, changing}
      after
        System.cmd(@lab, ["down", "--prefix", prefix()], stderr_to_stdout: true)
      end

    lines = table(rows) ++ [""] ++ changing_table(changing)
    Enum.each(lines, &info/1)
    finished = "demo finished in #{div(System.monotonic_time(:millisecond) - started, 1000)} s"
    info("\n" <> finished)

    if out do
      PLPMTUD.CLI.write_report!(
        out,
        "The discovery demo on the namespace lab",
        Enum.join(["mix plpmtud.demo" | args], " "),
        [
          "- path: client -> r1 (link 1500) -> r2 (link 1370) -> server (link 1350); #{finished}",
          "" | lines
        ]
      )

      info("wrote #{out}")
    end
  end

  defp with_lab(lab_args, fun) do
    {out, status} =
      System.cmd(@lab, ["up", "--prefix", prefix() | lab_args], stderr_to_stdout: true)

    if status != 0, do: Mix.raise("lab up failed: #{out}")
    {:ok, responder} = Responder.start_link(netns: "#{prefix()}-s")

    try do
      fun.()
    after
      GenServer.stop(responder)
    end
  end

  defp run_variant(name, family, true_mtu) do
    server = if family == :inet, do: @server4, else: @server6
    info("== #{name}, #{family_label(family)}: plpmtud (UDP, default settings)")
    default = probe(server, :udp, [], &print_event/1)
    compat = probe(server, :udp, [aiutp_compat: true], fn _ -> :ok end)
    icmp = probe(server, :icmp, [], fn _ -> :ok end)
    tracepath = tracepath(server, family)
    info("")

    %{
      variant: name,
      family: family,
      true_mtu: true_mtu,
      default: default,
      compat: compat,
      icmp: icmp,
      tracepath: tracepath
    }
  end

  defp probe(server, mode, config, on_event) do
    PathProbe.run(server,
      mode: mode,
      netns: "#{prefix()}-c",
      timeout: 30_000,
      config: config,
      on_event: on_event
    )
  end

  # tracepath waits long in a black hole: bounded by `timeout`.
  defp tracepath(server, family) do
    with exe when exe != nil <- System.find_executable("tracepath"),
         flag = if(family == :inet, do: "-4", else: "-6"),
         target = to_string(:inet.ntoa(server)),
         args = ~w(10 ip netns exec #{prefix()}-c #{exe} #{flag} -n -m 4 #{target}),
         {out, status} <- System.cmd("timeout", args, stderr_to_stdout: true) do
      case Regex.run(~r/Resume: pmtu (\d+)/, out) do
        [_, pmtu] -> pmtu
        nil when status == 124 -> "no result in 10 s"
        nil -> "no result"
      end
    else
      nil -> "not installed"
    end
  end

  # Variant c: an autonomous prober with heartbeats watches the path while
  # the last link drops from 1350 to 1280 and rises back (black hole: no ICMP).
  defp changing_mtu(family) do
    server = if family == :inet, do: @server4, else: @server6

    info(
      "== c. MTU changes 1350 -> 1280 -> 1350 (black hole), #{family_label(family)}: plpmtud prober"
    )

    {:ok, prober} =
      Prober.start_link(
        peer: {server, Responder.default_port()},
        heartbeat: 200,
        socket_options: [netns: "#{prefix()}-c"],
        config: [mtu_probe_interval: 3_000],
        subscribe: [self()]
      )

    t0 = System.monotonic_time(:millisecond)
    first = await_mtu(prober, &(&1 >= 1334), t0, 15_000)
    {_, 0} = System.cmd(@lab, ["mtu", "--prefix", prefix(), "1280"])
    t_drop = System.monotonic_time(:millisecond)
    dropped = await_mtu(prober, &(&1 <= 1280), t_drop, 15_000)
    {_, 0} = System.cmd(@lab, ["mtu", "--prefix", prefix(), "1350"])
    t_rise = System.monotonic_time(:millisecond)
    risen = await_mtu(prober, &(&1 >= 1334), t_rise, 15_000)
    GenServer.stop(prober)
    info("")
    %{family: family, first: first, dropped: dropped, risen: risen}
  end

  # Prints the prober's MTU changes until `ok?` holds after a completed search.
  defp await_mtu(prober, ok?, since, limit) do
    receive do
      {:plpmtud, ^prober, {:mtu_changed, old, new, reason}} ->
        info(
          "  #{pad(System.monotonic_time(:millisecond) - since, 6)} ms: #{old} -> #{new} (#{reason})"
        )

        await_mtu(prober, ok?, since, limit)

      {:plpmtud, ^prober, {:search_complete, mtu}} ->
        if ok?.(mtu),
          do: {mtu, System.monotonic_time(:millisecond) - since},
          else: await_mtu(prober, ok?, since, limit)

      {:plpmtud, ^prober, _other} ->
        await_mtu(prober, ok?, since, limit)
    after
      limit -> {Prober.packet_size(prober), :timeout}
    end
  end

  defp changing_table(rows) do
    [
      "| c. MTU changes (black hole) | family | found at 1350 | after the drop to 1280 | after the rise to 1350 |",
      "|---|---|---|---|---|"
      | for row <- rows do
          "| autonomous prober, heartbeat 200 ms, re-probe 3 s | #{family_label(row.family)} | " <>
            "#{changed(row.first)} | #{changed(row.dropped)} | #{changed(row.risen)} |"
        end
    ]
  end

  defp changed({mtu, :timeout}), do: "#{mtu} (not settled)"
  defp changed({mtu, ms}), do: "#{mtu} in #{ms} ms"

  defp print_event({:probe_sent, id, size}), do: info("  #{pad(id, 3)}: #{pad(size, 5)} sent")

  defp print_event({:probe_acked, id, size, rtt}),
    do: info("  #{pad(id, 3)}: #{pad(size, 5)} ok (#{rtt} ms)")

  defp print_event({:probe_lost, id, size, _}), do: info("  #{pad(id, 3)}: #{pad(size, 5)} lost")
  defp print_event({:ptb, mtu, verdict}), do: info("       ICMP too big: mtu #{mtu} (#{verdict})")
  defp print_event(_), do: :ok

  defp table(rows) do
    [
      "| variant | family | true path MTU | plpmtud | probes | time | aiutp_compat | probes | time | ICMP-echo mode | tracepath |",
      "|---|---|---|---|---|---|---|---|---|---|---|"
      | for row <- rows do
          "| #{row.variant} | #{family_label(row.family)} | #{row.true_mtu} | " <>
            "#{cells(row.default)} | #{cells(row.compat)} | #{mtu_cell(row.icmp)} | #{row.tracepath} |"
        end
    ]
  end

  defp cells({:ok, r}), do: "#{r.mtu}#{state_mark(r.state)} | #{r.probes} | #{r.elapsed_ms} ms"
  defp cells({:error, reason}), do: "failed: #{inspect(reason)} | - | -"

  defp mtu_cell({:ok, r}), do: "#{r.mtu}#{state_mark(r.state)}"
  defp mtu_cell({:error, reason}), do: "failed: #{inspect(reason)}"

  defp state_mark(:search_complete), do: ""
  defp state_mark(state), do: " (#{state})"

  defp family_label(:inet), do: "IPv4"
  defp family_label(:inet6), do: "IPv6"

  defp pad(value, width), do: value |> to_string() |> String.pad_leading(width)
  defp info(text), do: Mix.shell().info(text)
end
