# Time to converge on the namespace lab's paths, in one run: plpmtud (UDP
# probes to a responder, default settings), tracepath, and the kernel's own
# PMTU cache (what `ip route get` shows after DF sends). Needs root.
#
#   mix run bench/lab.exs [--reps R]
#
# Writes bench/results/lab.md.

{opts, _, _} = OptionParser.parse(System.argv(), strict: [reps: :integer])
reps = Keyword.get(opts, :reps, 5)
lab = Path.expand("scripts/lab")
prefix = "plpbench-#{System.pid()}"
server = {10, 71, 3, 2}
server_text = "10.71.3.2"
client = "#{prefix}-c"

ms = fn fun ->
  t0 = System.monotonic_time(:millisecond)
  result = fun.()
  {result, System.monotonic_time(:millisecond) - t0}
end

in_client = fn args ->
  System.cmd("ip", ["netns", "exec", client | args], stderr_to_stdout: true)
end

# The kernel: DF pings of 1500 bytes until `ip route get` reports a cached
# MTU that lets a DF ping of that size through, at most 10 tries.
kernel = fn ->
  Enum.reduce_while(1..10, nil, fn attempt, _ ->
    in_client.(~w(ping -4 -c1 -W1 -M do -s 1472 #{server_text}))
    {route, _} = in_client.(~w(ip -4 route get #{server_text}))

    case Regex.run(~r/mtu (\d+)/, route) do
      [_, mtu] ->
        size = String.to_integer(mtu) - 28
        {out, _} = in_client.(~w(ping -4 -c1 -W1 -M do -s #{size} #{server_text}))

        if out =~ "1 received",
          do: {:halt, {mtu, attempt}},
          else: {:cont, {mtu <> " (dropped)", attempt}}

      nil ->
        {:cont, {"none", attempt}}
    end
  end)
end

tracepath = fn ->
  {out, status} =
    System.cmd("timeout", ~w(10 ip netns exec #{client} tracepath -4 -n -m 4 #{server_text}),
      stderr_to_stdout: true
    )

  case Regex.run(~r/Resume: pmtu (\d+)/, out) do
    [_, pmtu] -> pmtu
    nil -> if status == 124, do: "none in 10 s", else: "none"
  end
end

# The mismatched link's veth takes 4 bytes more than its MTU: that path carries 1354.
variants = [
  {"ICMP allowed", "icmp", 1350},
  {"black hole", "blackhole", 1350},
  {"mismatch", "mismatch", 1354}
]

median = fn list -> list |> Enum.sort() |> Enum.at(div(length(list), 2)) end

rows =
  for {name, variant, path_mtu} <- variants do
    samples =
      for _ <- 1..reps do
        {_, 0} =
          System.cmd(lab, ["up", "--prefix", prefix, "--variant", variant], stderr_to_stdout: true)

        {:ok, responder} = PLPMTUD.Responder.start_link(netns: "#{prefix}-s")
        {{:ok, found}, plp_ms} = ms.(fn -> PLPMTUD.PathProbe.run(server, netns: client) end)
        GenServer.stop(responder)
        {{kernel_mtu, kernel_sends}, kernel_ms} = ms.(kernel)

        {_, 0} =
          System.cmd(lab, ["up", "--prefix", prefix, "--variant", variant], stderr_to_stdout: true)

        {trace_mtu, trace_ms} = ms.(tracepath)

        %{
          plp: found.mtu,
          plp_probes: found.probes,
          plp_ms: plp_ms,
          kernel: kernel_mtu,
          kernel_sends: kernel_sends,
          kernel_ms: kernel_ms,
          trace: trace_mtu,
          trace_ms: trace_ms
        }
      end

    s = hd(samples)

    "| #{name} | #{path_mtu} | #{s.plp} (#{s.plp_probes} probes) | #{median.(Enum.map(samples, & &1.plp_ms))} ms | " <>
      "#{s.trace} | #{median.(Enum.map(samples, & &1.trace_ms))} ms | #{s.kernel} after #{s.kernel_sends} DF sends | " <>
      "#{median.(Enum.map(samples, & &1.kernel_ms))} ms |"
  end

System.cmd(lab, ["down", "--prefix", prefix])
{host, 0} = System.cmd("hostname", [])

report = """
# Time to converge on the namespace lab (IPv4)

- command: `mix run bench/lab.exs --reps #{reps}`
- machine: #{String.trim(host)}, #{System.schedulers_online()} schedulers; date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- path: client -> r1 (1500) -> r2 (1370) -> server (1350); each tool on a freshly built lab; times are medians of #{reps}
- kernel: DF pings of 1500 bytes, then `ip route get` and a DF ping at the cached MTU, until it gets through (at most 10)

| variant | true path MTU | plpmtud | time | tracepath | time | kernel PMTU cache | time |
|---|---|---|---|---|---|---|---|
#{Enum.join(rows, "\n")}
"""

File.write!("bench/results/lab.md", report)
IO.puts(report)
