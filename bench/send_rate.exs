# Send rates on loopback, 1200-byte datagrams, all methods interleaved in one
# run, as ratios to gen_udp with the raw DF option.
#
#   mix run bench/send_rate.exs [--count N] [--reps R]
#
# Writes bench/results/send_rate.md.

{opts, _, _} = OptionParser.parse(System.argv(), strict: [count: :integer, reps: :integer])
count = Keyword.get(opts, :count, 50_000)
reps = Keyword.get(opts, :reps, 7)

alias PLPMTUD.Socket

lo = {127, 0, 0, 1}
payload = :binary.copy(<<0>>, 1200)
{:ok, sink} = :gen_udp.open(0, [:binary, ip: lo, active: false, recbuf: 212_992])
{:ok, sink_port} = :inet.port(sink)

{:ok, gen} = :gen_udp.open(0, [:binary, ip: lo, raw: {0, 10, <<2::native-32>>}])
{:ok, sock} = :socket.open(:inet, :dgram, :udp)
:ok = :socket.bind(sock, %{family: :inet, addr: lo, port: 0})
:ok = :socket.setopt(sock, {:ip, :mtu_discover}, :do)
sock_dest = %{family: :inet, addr: lo, port: sink_port}
{:ok, pl} = Socket.open(0, ip: lo, df: :do, active: false)
{:ok, pl_conn} = Socket.open(0, ip: lo, df: :do, active: false, connect: {lo, sink_port})
{:ok, false} = Socket.set_gso(pl_conn, false)
{:ok, pl_gso} = Socket.open(0, ip: lo, df: :do, active: false, connect: {lo, sink_port})
{:ok, true} = Socket.set_gso(pl_gso, true)
{:ok, false} = Socket.set_gso(pl, false)
batch32 = List.duplicate(payload, 32)

repeat = fn fun, n ->
  Enum.each(1..n, fn _ -> fun.() end)
end

methods = [
  {"gen_udp:send/4 (raw DF)",
   fn -> repeat.(fn -> :gen_udp.send(gen, lo, sink_port, payload) end, count) end},
  {"socket:sendto/3 (mtu_discover do)",
   fn -> repeat.(fn -> :socket.sendto(sock, payload, sock_dest) end, count) end},
  {"PLPMTUD.Socket.send_to/4",
   fn -> repeat.(fn -> Socket.send_to(pl, lo, sink_port, payload) end, count) end},
  {"PLPMTUD.Socket.send/2 (connected)",
   fn -> repeat.(fn -> Socket.send(pl_conn, payload) end, count) end},
  {"PLPMTUD.Socket.send_batch/3 (32, to)",
   fn ->
     repeat.(fn -> Socket.send_batch(pl, batch32, {lo, sink_port}) end, div(count, 32))
   end},
  {"PLPMTUD.Socket.send_batch/2 (32, connected, GSO)",
   fn ->
     repeat.(fn -> Socket.send_batch(pl_gso, batch32) end, div(count, 32))
   end},
  {"PLPMTUD.Socket.send_batch/2 (32, connected)",
   fn ->
     repeat.(fn -> Socket.send_batch(pl_conn, batch32) end, div(count, 32))
   end}
]

sent_per_run = fn name ->
  if String.contains?(name, "batch"), do: div(count, 32) * 32, else: count
end

rates =
  for _rep <- 1..reps, {name, fun} <- Enum.shuffle(methods), reduce: %{} do
    acc ->
      {us, _} = :timer.tc(fun)

      Map.update(
        acc,
        name,
        [sent_per_run.(name) * 1_000_000 / us],
        &[sent_per_run.(name) * 1_000_000 / us | &1]
      )
  end

floor_rates =
  for _ <- 1..reps do
    {out, 0} =
      System.cmd("cargo", [
        "run",
        "-q",
        "--release",
        "-p",
        "plpmtud_udp",
        "--example",
        "sendmmsg_floor",
        "#{count * 4}"
      ])

    out |> String.trim() |> String.to_integer() |> Kernel.*(1.0)
  end

gso_floor_rates =
  for _ <- 1..reps do
    {out, 0} =
      System.cmd("cargo", ~w(run -q --release -p plpmtud_udp --example sendmmsg_floor #{count * 4} gso))

    out |> String.trim() |> String.to_integer() |> Kernel.*(1.0)
  end

rates =
  rates
  |> Map.put("plain Rust sendmmsg(32) loop, connected (outside the BEAM)", floor_rates)
  |> Map.put("plain Rust GSO(32) loop, connected (outside the BEAM)", gso_floor_rates)

median = fn list ->
  sorted = Enum.sort(list)
  Enum.at(sorted, div(length(sorted), 2))
end

base = median.(rates["gen_udp:send/4 (raw DF)"])

# A same-VM reader while batches are sent, both on ONE scheduler: does the
# batch NIF leave the reader its turn? Bursts of 4 batches of 32 (128
# datagrams, which fit the default 208 KB receive buffer), 2 ms apart.
{:ok, reader_sock} = :gen_udp.open(0, [:binary, ip: lo, active: false, recbuf: 8_388_608])
{:ok, reader_port} = :inet.port(reader_sock)
parent = self()

count_loop = fn f, socket, n ->
  receive do
    {:udp, ^socket, _, _, _} -> f.(f, socket, n + 1)
    {:udp_passive, ^socket} -> :inet.setopts(socket, active: 100) && f.(f, socket, n)
    :done -> send(parent, {:received, n})
  end
end

reader = spawn(fn -> receive(do: (:go -> count_loop.(count_loop, reader_sock, 0))) end)
:ok = :gen_udp.controlling_process(reader_sock, reader)
:ok = :inet.setopts(reader_sock, active: 100)
send(reader, :go)
bursts = 150
starvation_total = bursts * 4 * 32
{:ok, to_reader} = Socket.open(0, ip: lo, df: :do, active: false, connect: {lo, reader_port})
online = :erlang.system_flag(:schedulers_online, 1)

Enum.each(1..bursts, fn _ ->
  Enum.each(1..4, fn _ -> Socket.send_batch(to_reader, batch32) end)
  Process.sleep(2)
end)

Process.sleep(200)
:erlang.system_flag(:schedulers_online, online)
send(reader, :done)
received = receive(do: ({:received, n} -> n), after: (5000 -> 0))

{hostname, 0} = System.cmd("hostname", [])

rows =
  rates
  |> Enum.map(fn {name, list} -> {name, median.(list), Enum.min(list), Enum.max(list)} end)
  |> Enum.sort_by(fn {_, m, _, _} -> m end)
  |> Enum.map(fn {name, m, lo_, hi} ->
    "| #{name} | #{round(m / 1000)}k | #{round(lo_ / 1000)}k–#{round(hi / 1000)}k | #{:erlang.float_to_binary(m / base, decimals: 2)} |"
  end)

report = """
# Send rates, loopback, 1200-byte datagrams

- command: `mix run bench/send_rate.exs --count #{count} --reps #{reps}`
- machine: #{String.trim(hostname)}, #{System.schedulers_online()} schedulers, OTP #{System.otp_release()}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- #{reps} repetitions per method, interleaved in random order; #{count} datagrams per repetition
  (the plain-Rust floor sends #{count * 4} per repetition)

| method | datagrams/s (median) | min–max | ratio to gen_udp |
|---|---|---|---|
#{Enum.join(rows, "\n")}

Same-VM gen_udp reader on the same (single online) scheduler while #{starvation_total}
datagrams were sent with `send_batch/2` (bursts of 4 calls of 32, 2 ms apart):
received #{received} (#{:erlang.float_to_binary(received * 100 / starvation_total, decimals: 1)} %).
"""

File.write!("bench/results/send_rate.md", report)
IO.puts(report)
