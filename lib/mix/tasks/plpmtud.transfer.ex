defmodule Mix.Tasks.Plpmtud.Transfer do
  @shortdoc "Moves a byte stream across the lab's paths with fixed and discovered packet sizes"

  @moduledoc """
  Runs `PLPMTUD.Examples.Transfer` across the namespace lab (root) and
  prints, per path variant, three runs side by side: a fixed 1296-byte
  payload (aiutp today), a fixed 1452-byte payload with DF and no discovery,
  and plpmtud.

      mix plpmtud.transfer [--mb N] [--out FILE]     (default 50 MB)

  `--out FILE` also writes the table to FILE with the command, machine and
  date (`bench/results/transfer_50mb.md`).

  Variants: 1500 clean; 1350 with ICMP; 1350 black hole; 1350 -> 1280 ->
  1350 mid-transfer (black hole, re-probe every second).
  """

  use Mix.Task

  alias PLPMTUD.Examples.Transfer

  @lab Path.expand("../../../scripts/lab", __DIR__)

  @impl Mix.Task
  def run(args) do
    {opts, rest} = PLPMTUD.CLI.parse!("plpmtud.transfer", args, mb: :integer, out: :string)
    if rest != [], do: PLPMTUD.CLI.fail!("plpmtud.transfer", "unexpected argument: #{hd(rest)}")
    Mix.Task.run("app.start")
    bytes = Keyword.get(opts, :mb, 50) * 1_000_000
    rows = table(bytes)

    lines = [
      "| path | sizing | completed | goodput MB/s | payload at end | packets | retransmissions | probe bytes | first full-size packet |",
      "|---|---|---|---|---|---|---|---|---|"
      | for {variant, sizing, r} <- rows do
          "| #{variant} | #{label(sizing)} | #{if r.completed, do: "yes", else: "stalled"}#{if r.completed and not r.checksum_ok, do: " (BAD DATA)"} | " <>
            "#{r.goodput_mb_s} | #{r.payload_at_end} | #{r.packets} | #{r.retransmissions} | " <>
            "#{:erlang.float_to_binary(r.probe_share * 100, decimals: 3)} % | #{first(r.first_full_ms)} |"
        end
    ]

    Enum.each(lines, &Mix.shell().info/1)

    if out = opts[:out] do
      PLPMTUD.CLI.write_report!(
        out,
        "A #{div(bytes, 1_000_000)} MB transfer across the namespace lab",
        Enum.join(["mix plpmtud.transfer" | args], " "),
        lines
      )

      Mix.shell().info("wrote #{out}")
    end
  end

  @doc "Runs every variant and sizing; `[{variant, sizing, result}]`."
  @spec table(pos_integer()) :: [{String.t(), term(), map()}]
  def table(bytes) do
    prefix = "plptr-#{System.pid()}"
    client = %{netns: "#{prefix}-c", ip: {10, 71, 1, 1}}
    server = %{netns: "#{prefix}-s", ip: {10, 71, 3, 2}}
    mtu = fn size -> fn -> System.cmd(@lab, ["mtu", "--prefix", prefix, "#{size}"]) end end

    variants = [
      {"1500 clean", ~w(--variant icmp --mtus 1500,1500,1500), []},
      {"1350, ICMP", ~w(--variant icmp), []},
      {"1350, black hole", ~w(--variant blackhole), []},
      {"1350 -> 1280 -> 1350", ~w(--variant blackhole),
       [events: [{0.3, mtu.(1280)}, {0.6, mtu.(1350)}], probe_interval: 1_000]}
    ]

    try do
      for {name, lab_args, options} <- variants,
          sizing <- [{:fixed, 1296}, {:fixed, 1452}, :plpmtud] do
        {_, 0} = System.cmd(@lab, ["up", "--prefix", prefix | lab_args], stderr_to_stdout: true)
        {name, sizing, Transfer.run(client, server, sizing, bytes, options)}
      end
    after
      System.cmd(@lab, ["down", "--prefix", prefix])
    end
  end

  defp label({:fixed, 1296}), do: "fixed 1296 (aiutp)"
  defp label({:fixed, n}), do: "fixed #{n}, DF"
  defp label(:plpmtud), do: "plpmtud"

  defp first(nil), do: "-"
  defp first(ms), do: "#{ms} ms"
end
