# Receive rates on loopback, 1200-byte datagrams: PLPMTUD.Socket against
# gen_udp, active (one message per datagram, and batched) and passive, all
# methods interleaved in one run, as ratios to gen_udp.
#
#   cargo build --release -p plpmtud_udp --example blast --example recv_floor
#   ELIXIR_ERL_OPTIONS="+S 1" taskset -c 0 mix run bench/recv_rate.exs [--reps R] [--ms MS] [--recbuf BYTES]
#
# The VM runs one scheduler on core 0; the sender (the `blast` example,
# UDP GSO batches of 32 at full speed) runs on core 1, so the receiver is
# the bottleneck. Each repetition floods the receiving socket for
# 300 + MS ms and counts the datagrams the owner process handled in MS ms
# after the first 300. Every method runs twice: with the kernel's default
# receive buffer, and with `recbuf` BYTES (default 4 MiB, the
# net.core.rmem_max here) on both sides. Writes bench/results/recv_rate.md.

Code.require_file("support.exs", __DIR__)

{opts, _, _} =
  OptionParser.parse(System.argv(), strict: [reps: :integer, ms: :integer, recbuf: :integer])

recbuf = Keyword.get(opts, :recbuf, 4_194_304)
reps = Keyword.get(opts, :reps, 7)
window_ms = Keyword.get(opts, :ms, 1_000)
warmup_ms = 300

alias PLPMTUD.Socket

blast = Path.expand("target/release/examples/blast")
floor = Path.expand("target/release/examples/recv_floor")

unless File.exists?(blast) and File.exists?(floor) do
  raise "build the sender and the floor first: " <>
          "cargo build --release -p plpmtud_udp --example blast --example recv_floor"
end

lo = {127, 0, 0, 1}

defmodule RecvRate.Count do
  # Each loop returns the datagrams handled until `stop` (monotonic µs).
  def gen_udp_active(s, stop, n) do
    receive do
      {:udp, ^s, _ip, _port, _data} ->
        if rem(n, 64) == 0 and now() >= stop, do: n + 1, else: gen_udp_active(s, stop, n + 1)
    after
      1_000 -> n
    end
  end

  def plpmtud_active(s, stop, n) do
    receive do
      {:plpmtud_udp, ^s, _ip, _port, _data} ->
        if rem(n, 64) == 0 and now() >= stop, do: n + 1, else: plpmtud_active(s, stop, n + 1)
    after
      1_000 -> n
    end
  end

  def plpmtud_batch(s, stop, n) do
    receive do
      {:plpmtud_udp_batch, ^s, items} ->
        n = n + length(items)
        if now() >= stop, do: n, else: plpmtud_batch(s, stop, n)
    after
      1_000 -> n
    end
  end

  def gen_udp_recv(s, stop, n) do
    case :gen_udp.recv(s, 0, 1_000) do
      {:ok, {_ip, _port, _data}} ->
        if rem(n, 64) == 0 and now() >= stop, do: n + 1, else: gen_udp_recv(s, stop, n + 1)

      {:error, _} ->
        n
    end
  end

  def plpmtud_recv(s, stop, n) do
    case Socket.recv(s, 1_000) do
      {:ok, {_ip, _port, _data}} ->
        if rem(n, 64) == 0 and now() >= stop, do: n + 1, else: plpmtud_recv(s, stop, n + 1)

      {:error, _} ->
        n
    end
  end

  def now, do: System.monotonic_time(:microsecond)

  # Empties the mailbox of what a flood left.
  def drain do
    receive do
      _ -> drain()
    after
      100 -> :ok
    end
  end
end

alias RecvRate.Count

# {name, open(buffer options), count loop, close, port}
methods = [
  {"gen_udp active: true", fn buf -> :gen_udp.open(0, [:binary, ip: lo, active: true] ++ buf) end,
   &Count.gen_udp_active/3, &:gen_udp.close/1, &:inet.port/1},
  {"PLPMTUD.Socket active: true", fn buf -> Socket.open(0, [ip: lo, active: true] ++ buf) end,
   &Count.plpmtud_active/3, &Socket.close/1, &Socket.sockname/1},
  {"PLPMTUD.Socket active: true, batch: true",
   fn buf -> Socket.open(0, [ip: lo, active: true, batch: true] ++ buf) end,
   &Count.plpmtud_batch/3, &Socket.close/1, &Socket.sockname/1},
  {"gen_udp:recv/3 (active: false)",
   fn buf -> :gen_udp.open(0, [:binary, ip: lo, active: false] ++ buf) end, &Count.gen_udp_recv/3,
   &:gen_udp.close/1, &:inet.port/1},
  {"PLPMTUD.Socket.recv/2 (active: false)",
   fn buf -> Socket.open(0, [ip: lo, active: false] ++ buf) end, &Count.plpmtud_recv/3,
   &Socket.close/1, &Socket.sockname/1}
]

buffers = [{"default", []}, {"recbuf #{recbuf}", [recbuf: recbuf]}]

port_of = fn port_fun, s ->
  case port_fun.(s) do
    {:ok, {_ip, port}} -> port
    {:ok, port} when is_integer(port) -> port
  end
end

run_one = fn {_name, open, count, close, port_fun}, buf ->
  {:ok, s} = open.(buf)
  port = port_of.(port_fun, s)

  sender =
    Task.async(fn ->
      # (the sender)
      System.cmd("taskset", [
        "-c",
        "1",
        blast,
        Integer.to_string(port),
        Integer.to_string(warmup_ms + window_ms + 200)
      ])
    end)

  # Handle (and do not count) the first warmup_ms of the flood.
  warm_stop = Count.now() + warmup_ms * 1_000
  _ = count.(s, warm_stop, 0)
  cpu0 = Bench.Support.vm_cpu_ns()
  t0 = Count.now()
  n = count.(s, t0 + window_ms * 1_000, 0)
  elapsed = Count.now() - t0
  cpu = Bench.Support.vm_cpu_ns() - cpu0
  {out, 0} = Task.await(sender, 30_000)
  close.(s)
  Count.drain()
  sent = out |> String.trim() |> String.to_integer()
  {n * 1_000_000 / elapsed, n * 1.0e9 / max(cpu, 1), sent * 1000 / (warmup_ms + window_ms + 200)}
end

# The plain-Rust floor: a recvmmsg(32) loop outside the BEAM, on core 0.
run_floor = fn buf ->
  taskset = System.find_executable("taskset")

  args =
    ["-c", "0", floor, Integer.to_string(window_ms)] ++
      Enum.map(buf, fn {:recbuf, b} -> Integer.to_string(b) end)

  port =
    Port.open({:spawn_executable, taskset}, [:binary, {:line, 200}, :exit_status, args: args])

  read_line = fn ->
    receive do
      {^port, {:data, {:eol, line}}} -> line
    after
      20_000 -> raise "recv_floor did not answer"
    end
  end

  udp_port = read_line.()

  {out, 0} =
    System.cmd("taskset", [
      "-c",
      "1",
      blast,
      udp_port,
      Integer.to_string(warmup_ms + window_ms + 200)
    ])

  [rate, per_cpu] = read_line.() |> String.split() |> Enum.map(&String.to_float/1)

  receive do
    {^port, {:exit_status, _}} -> :ok
  after
    5_000 -> :ok
  end

  sent = out |> String.trim() |> String.to_integer()
  {rate, per_cpu, sent * 1000 / (warmup_ms + window_ms + 200)}
end

floor_name = "plain Rust recvmmsg(32) loop (outside the BEAM)"
floor_method = {floor_name, nil, nil, nil, nil}

order =
  for _ <- 1..reps,
      run <- Enum.shuffle(for m <- [floor_method | methods], b <- buffers, do: {m, b}),
      do: run

results =
  Enum.reduce(order, %{}, fn {{name, _, _, _, _} = m, {buf_name, buf}}, acc ->
    {rate, per_cpu, sent} = if name == floor_name, do: run_floor.(buf), else: run_one.(m, buf)

    IO.puts(
      "#{name}, #{buf_name}: #{round(rate)}/s, #{round(per_cpu)}/CPU-s (sent #{round(sent)}/s)"
    )

    Map.update(acc, {name, buf_name}, [{rate, per_cpu, sent}], &[{rate, per_cpu, sent} | &1])
  end)

median = fn list ->
  sorted = Enum.sort(list)
  Enum.at(sorted, div(length(sorted), 2))
end

k = fn rate -> "#{round(rate / 1000)}k" end

row = fn name, base ->
  Enum.map_join(buffers, "\n", fn {buf_name, _} ->
    runs = results[{name, buf_name}]
    rates = Enum.map(runs, &elem(&1, 0))
    per_cpu = Enum.map(runs, &elem(&1, 1))
    sent = Enum.map(runs, &elem(&1, 2))
    base_runs = results[{base, buf_name}]
    m = median.(rates)
    c = median.(per_cpu)
    ratio = fn a, b -> :erlang.float_to_binary(a / b, decimals: 2) end

    "| #{name} | #{buf_name} | #{k.(m)} | #{k.(Enum.min(rates))}–#{k.(Enum.max(rates))} | " <>
      "#{ratio.(m, median.(Enum.map(base_runs, &elem(&1, 0))))} | #{k.(c)} | " <>
      "#{ratio.(c, median.(Enum.map(base_runs, &elem(&1, 1))))} | #{k.(median.(sent))} |"
  end)
end

{os_family, os_name} = :os.type()

report = """
# Receive rates, loopback, 1200-byte datagrams

- command: `cargo build --release -p plpmtud_udp --example blast --example recv_floor && ELIXIR_ERL_OPTIONS="+S 1" taskset -c 0 mix run bench/recv_rate.exs --reps #{reps} --ms #{window_ms} --recbuf #{recbuf}`
- machine: #{os_family}/#{os_name}, #{System.schedulers_online()} scheduler(s) pinned to core 0, sender pinned to core 1, OTP #{System.otp_release()}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- #{reps} repetitions per method, interleaved in random order; each floods
  the socket (UDP GSO batches of 32 from the `blast` example, faster than
  any receiver here) and counts the datagrams the owner handled in
  #{window_ms} ms after a #{warmup_ms} ms warm-up; the kernel drops what
  the receiver does not take. Default socket options on both sides
  (gen_udp: `[:binary, active: ...]`, its default `read_packets` 5), with
  the kernel's default receive buffer (#{File.read!("/proc/sys/net/core/rmem_default") |> String.trim()} bytes) or with
  `recbuf: #{recbuf}` on both; ratios compare runs with the same buffer.
- "datagrams/s": handled by the owner in the window. "per VM CPU-second":
  the same count over the CPU time all threads of the VM used in the
  window (`/proc/self/task/*/schedstat`): the receive path's cost, which
  stays meaningful when the sender (one core, shared with the kernel's
  loopback work) is the limit or other load shares the cores.

Active mode, as ratios to gen_udp `active: true`:

| method | receive buffer | datagrams/s (median) | min–max | rate ratio | datagrams per VM CPU-second (median) | CPU ratio | sender's rate (median) |
|---|---|---|---|---|---|---|---|
#{row.("gen_udp active: true", "gen_udp active: true")}
#{row.("PLPMTUD.Socket active: true", "gen_udp active: true")}
#{row.("PLPMTUD.Socket active: true, batch: true", "gen_udp active: true")}
#{row.(floor_name, "gen_udp active: true")}

Passive mode, as ratios to `gen_udp:recv/3`:

| method | receive buffer | datagrams/s (median) | min–max | rate ratio | datagrams per VM CPU-second (median) | CPU ratio | sender's rate (median) |
|---|---|---|---|---|---|---|---|
#{row.("gen_udp:recv/3 (active: false)", "gen_udp:recv/3 (active: false)")}
#{row.("PLPMTUD.Socket.recv/2 (active: false)", "gen_udp:recv/3 (active: false)")}

`PLPMTUD.Socket` active mode: the fd waits in the BEAM's poll set; on
readiness its reader process reads up to 32 datagrams per `recvmmsg` (at
most 128 per readiness) into one binary and sends the owner one message
per datagram (sub-binaries), or one `{:plpmtud_udp_batch, s, list}` per
`recvmmsg` with `batch: true`. `recv/2` reads a queued datagram on the
caller's scheduler; when none is queued the caller waits in `receive`
until the socket's reader, woken by the poll set, tells it to read.
"""

File.mkdir_p!("bench/results")
File.write!("bench/results/recv_rate.md", report)
IO.puts(report)
