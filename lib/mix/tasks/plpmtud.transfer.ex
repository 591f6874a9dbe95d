defmodule Mix.Tasks.Plpmtud.Transfer do
  @shortdoc "Moves a byte stream across the lab's paths with fixed and discovered packet sizes"

  @moduledoc """
  Runs the Erlang example transport `:plpmtud_example_utp` (shaped like uTP,
  using only the `:plpmtud` facade and gen_udp) across the namespace lab
  (root) and prints, per path and address family, three runs side by side:
  a fixed 1296-byte payload (aiutp today, the kernel's default DF policy), a
  fixed 1452-byte payload with DF and no discovery, and plpmtud.

      mix plpmtud.transfer [--mb N] [--out FILE]     (default 50 MB)

  Paths: 1500 clean; 1350 with ICMP; 1350 black hole; 1350 -> 1280 -> 1350
  mid-transfer (at 30 % and 60 % of the stream) with ICMP blocked and a
  re-probe every second. Each on IPv4 and IPv6; the lab is rebuilt for
  every run. `--out FILE` also writes the table to FILE with the command,
  machine and date.
  """

  use Mix.Task

  @lab Path.expand("../../../scripts/lab", __DIR__)
  @server %{inet: {10, 71, 3, 2}, inet6: {0xFD71, 3, 0, 0, 0, 0, 0, 2}}

  @impl Mix.Task
  def run(args) do
    {opts, rest} = PLPMTUD.CLI.parse!("plpmtud.transfer", args, mb: :integer, out: :string)
    if rest != [], do: PLPMTUD.CLI.fail!("plpmtud.transfer", "unexpected argument: #{hd(rest)}")
    Mix.Task.run("app.start")

    unless Code.ensure_loaded?(example()) do
      PLPMTUD.CLI.fail!(
        "plpmtud.transfer",
        "the example transport (examples/utp) is built in the dev and test environments only"
      )
    end

    bytes = Keyword.get(opts, :mb, 50) * 1_000_000

    header = [
      "| path | family | sizing | completed | time | goodput MB/s | payload at end | packets | retransmissions | probes | window reductions | of which caused by probes |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|"
    ]

    Enum.each(header, &Mix.shell().info/1)
    rows = table(bytes, fn row -> Mix.shell().info(line(row)) end)
    lines = header ++ Enum.map(rows, &line/1)

    if out = opts[:out] do
      PLPMTUD.CLI.write_report!(
        out,
        "A #{div(bytes, 1_000_000)} MB transfer of the uTP-shaped example across the namespace lab",
        Enum.join(["mix plpmtud.transfer" | args], " "),
        lines
      )

      Mix.shell().info("wrote #{out}")
    end
  end

  @doc """
  Runs every path, family and sizing with `bytes` of stream; `on_row` is
  called with each row as it is done. Returns `[{path, family, sizing,
  result}]`, the result being `:plpmtud_example_utp.run/1`'s.
  """
  @spec table(pos_integer(), (tuple() -> term())) :: [{String.t(), atom(), term(), map()}]
  def table(bytes, on_row \\ fn _ -> :ok end) do
    prefix = "plptr-#{System.pid()}"
    mtu = fn size -> fn -> lab(["mtu", "--prefix", prefix, "#{size}"]) end end

    paths = [
      {"1500 clean", ~w(--variant icmp --mtus 1500,1500,1500), []},
      {"1350, ICMP", ~w(--variant icmp), []},
      {"1350, black hole", ~w(--variant blackhole), []},
      {"1350 -> 1280 -> 1350, ICMP blocked", ~w(--variant blackhole),
       [{0.3, mtu.(1280)}, {0.6, mtu.(1350)}]}
    ]

    try do
      for {name, lab_args, events} <- paths,
          family <- [:inet, :inet6],
          sizing <- [{:fixed, 1296}, {:fixed, 1452}, :plpmtud] do
        {_, 0} = lab(["up", "--prefix", prefix | lab_args])

        result =
          apply(example(), :run, [
            %{
              server_ip: @server[family],
              client_netns: "#{prefix}-c",
              server_netns: "#{prefix}-s",
              bytes: bytes,
              sizing: sizing,
              events: events,
              probe_interval: 1_000,
              stall_ms: 4_000,
              max_ms: 600_000
            }
          ])

        row = {name, family, sizing, result}
        on_row.(row)
        row
      end
    after
      lab(["down", "--prefix", prefix])
    end
  end

  defp lab(args), do: System.cmd(@lab, args, stderr_to_stdout: true)

  # Not a literal in the calls: the example is not compiled in :prod.
  defp example, do: :plpmtud_example_utp

  defp line({path, family, sizing, r}) do
    completed =
      cond do
        r.identical -> "yes, identical"
        r.completed -> "yes, BAD DATA"
        true -> "stalled"
      end

    "| #{path} | #{family} | #{label(sizing)} | #{completed} | #{r.time_ms} ms | #{r.goodput_mb_s} | " <>
      "#{r.payload_at_end} | #{r.packets} | #{r.retransmissions} | #{r.probes} | " <>
      "#{r.window_reductions} | #{r.probe_window_reductions} |"
  end

  defp label({:fixed, 1296}), do: "fixed 1296 (aiutp)"
  defp label({:fixed, n}), do: "fixed #{n}, DF"
  defp label(:plpmtud), do: "plpmtud"
end
