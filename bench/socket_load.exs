# Many PLPMTUD.Socket sockets receiving at once: N active sockets on
# loopback, each sent one 100-byte datagram per second for S seconds by a
# separate OS process, counted per socket by their owners.
#
#   mix run bench/socket_load.exs [--count 10000] [--seconds 60] [--owners 100] [--gen-udp] [--out FILE]
#
# The sockets are opened by OWNERS processes (COUNT / OWNERS sockets each,
# `active: true`), which count every datagram per socket. The sender is a
# second VM (`elixir bench/socket_load_sender.exs`, one gen_udp socket)
# that sends each port one datagram per second, the COUNT ports spread
# evenly over each second. Reports datagrams sent, delivered and lost (with
# the kernel's UDP drop counters over the run), the VM's OS threads and
# descriptors before, during and after, scheduler utilisation
# (`:scheduler.sample_all/0`) idle and over the run, and checks that the
# descriptors return to the baseline after close/1. Writes
# bench/results/socket_load.md (with --gen-udp, the same load on gen_udp
# ports for reference: bench/results/socket_load_gen_udp.md).

Code.require_file("support.exs", __DIR__)

{opts, _, _} =
  OptionParser.parse(System.argv(),
    strict: [
      count: :integer,
      seconds: :integer,
      owners: :integer,
      gen_udp: :boolean,
      out: :string
    ]
  )

count = Keyword.get(opts, :count, 10_000)
seconds = Keyword.get(opts, :seconds, 60)
owners_n = Keyword.get(opts, :owners, 100)
# --gen-udp: the same load on gen_udp ports, for reference.
kind = if Keyword.get(opts, :gen_udp, false), do: :gen_udp, else: :plpmtud
label = if kind == :gen_udp, do: "gen_udp", else: "PLPMTUD.Socket"
default_out = if kind == :gen_udp, do: "socket_load_gen_udp.md", else: "socket_load.md"
out = Keyword.get(opts, :out, Path.join("bench/results", default_out))
per_owner = div(count, owners_n)
count = per_owner * owners_n

alias PLPMTUD.Socket

lo = {127, 0, 0, 1}
threads = fn -> length(File.ls!("/proc/self/task")) end
fds = fn -> length(File.ls!("/proc/self/fd")) end

fd_limit =
  "/proc/self/limits"
  |> File.read!()
  |> String.split("\n")
  |> Enum.find(&String.starts_with?(&1, "Max open files"))
  |> String.split()
  |> Enum.at(3)
  |> String.to_integer()

if count + fds.() + 100 > fd_limit do
  raise "#{count} sockets do not fit under the descriptor limit #{fd_limit}"
end

# The kernel's UDP counters (whole network namespace).
udp_counters = fn ->
  [names, values] =
    "/proc/net/snmp"
    |> File.read!()
    |> String.split("\n")
    |> Enum.filter(&String.starts_with?(&1, "Udp: "))
    |> Enum.map(&(&1 |> String.split() |> tl()))

  Map.new(Enum.zip(names, Enum.map(values, &String.to_integer/1)))
end

settle = fn ->
  Process.sleep(1_200)
  for p <- Process.list(), do: :erlang.garbage_collect(p)
  Process.sleep(200)
end

:erlang.system_flag(:scheduler_wall_time, true)

# Scheduler utilisation between two samples: per type (mean over the
# schedulers of the type) and per scheduler.
utilisation = fn s0, s1 ->
  u = :scheduler.utilization(s0, s1)

  by_type =
    for type <- [:normal, :cpu, :io], into: %{} do
      values = for {^type, _id, v, _} <- u, do: v
      {type, {Enum.sum(values) / max(length(values), 1) * 100, Enum.map(values, &(&1 * 100))}}
    end

  {:total, total, _} = List.keyfind(u, :total, 0)
  Map.put(by_type, :total, total * 100)
end

defmodule SocketLoad.Owner do
  alias PLPMTUD.Socket

  # Opens `n` active sockets, reports their ports, then counts datagrams
  # per socket until asked for the counts; closes them when told.
  def start(parent, n, lo, kind) do
    spawn_link(fn ->
      sockets =
        for _ <- 1..n do
          {:ok, s} =
            if kind == :gen_udp,
              do: :gen_udp.open(0, [:binary, ip: lo, active: true]),
              else: Socket.open(0, ip: lo, active: true)

          s
        end

      ports =
        for s <- sockets do
          case kind do
            :gen_udp ->
              {:ok, port} = :inet.port(s)
              port

            :plpmtud ->
              {:ok, {_, port}} = Socket.sockname(s)
              port
          end
        end

      send(parent, {:ports, self(), ports})
      loop(parent, sockets, Map.new(sockets, &{&1, 0}), 0, kind)
    end)
  end

  defp loop(parent, sockets, counts, bad, kind) do
    receive do
      {tag, s, _ip, _port, <<_second::32, _i::32, _pad::binary-size(92)>>}
      when tag in [:plpmtud_udp, :udp] ->
        loop(parent, sockets, Map.update!(counts, s, &(&1 + 1)), bad, kind)

      {tag, _s, _ip, _port, _other} when tag in [:plpmtud_udp, :udp] ->
        loop(parent, sockets, counts, bad + 1, kind)

      {:counts, from} ->
        send(from, {:counts, self(), Map.values(counts), bad})
        loop(parent, sockets, counts, bad, kind)

      {:close, from} ->
        close = if kind == :gen_udp, do: &:gen_udp.close/1, else: &Socket.close/1
        Enum.each(sockets, close)
        send(from, {:closed, self()})
        loop(parent, [], counts, bad, kind)

      :stop ->
        :ok
    end
  end
end

alias SocketLoad.Owner

parent = self()

# Warm up: code loading, one socket opened and closed.
{:ok, w} = Socket.open(0, ip: lo, active: true)
Socket.close(w)
settle.()

base = %{threads: threads.(), fds: fds.(), memory: :erlang.memory(:total)}

open_t0 = System.monotonic_time(:millisecond)
owners = for _ <- 1..owners_n, do: Owner.start(parent, per_owner, lo, kind)

ports =
  Enum.flat_map(owners, fn o ->
    receive do
      {:ports, ^o, ports} -> ports
    after
      60_000 -> raise "an owner did not open its sockets in 60 s"
    end
  end)

open_ms = System.monotonic_time(:millisecond) - open_t0
settle.()
opened = %{threads: threads.(), fds: fds.(), memory: :erlang.memory(:total)}

# Idle utilisation with every socket open and quiet, 5 s.
i0 = :scheduler.sample_all()
Process.sleep(5_000)
idle = utilisation.(i0, :scheduler.sample_all())

ports_file = Path.join(System.tmp_dir!(), "socket_load_ports_#{System.os_time()}")
File.write!(ports_file, Enum.map_join(ports, "\n", &Integer.to_string/1))
elixir = System.find_executable("elixir") || raise "no elixir executable"

udp0 = udp_counters.()
cpu0 = Bench.Support.vm_cpu_ns()
s0 = :scheduler.sample_all()
t0 = System.monotonic_time(:millisecond)

sender =
  Port.open({:spawn_executable, elixir}, [
    :binary,
    {:line, 200},
    :exit_status,
    args: ["bench/socket_load_sender.exs", ports_file, Integer.to_string(seconds)]
  ])

# During the run: threads, descriptors and the longest owner mailbox, at
# the middle of the run.
Process.sleep(div(seconds * 1000, 2) + 2_000)

during = %{
  threads: threads.(),
  fds: fds.(),
  memory: :erlang.memory(:total),
  max_queue: Enum.max(for o <- owners, do: elem(Process.info(o, :message_queue_len), 1))
}

{sent, send_errors, sender_cpu_ms} =
  receive do
    {^sender, {:data, {:eol, line}}} ->
      [a, b, c] = line |> String.split() |> Enum.map(&String.to_integer/1)
      {a, b, c}
  after
    (seconds + 60) * 1_000 -> raise "the sender did not finish"
  end

receive do
  {^sender, {:exit_status, 0}} -> :ok
after
  10_000 -> raise "the sender did not exit"
end

run_ms = System.monotonic_time(:millisecond) - t0
# The last datagrams: let the owners take them.
Process.sleep(1_000)
s1 = :scheduler.sample_all()
cpu = Bench.Support.vm_cpu_ns() - cpu0
udp1 = udp_counters.()
File.rm(ports_file)
run = utilisation.(s0, s1)

{per_socket, bad} =
  Enum.reduce(owners, {[], 0}, fn o, {acc, bad} ->
    send(o, {:counts, self()})

    receive do
      {:counts, ^o, counts, b} -> {counts ++ acc, bad + b}
    after
      10_000 -> raise "an owner did not report"
    end
  end)

delivered = Enum.sum(per_socket)
short = Enum.count(per_socket, &(&1 < seconds))
over = Enum.count(per_socket, &(&1 > seconds))
lost = sent - delivered
kernel = Map.new(udp1, fn {k, v} -> {k, v - udp0[k]} end)

close_t0 = System.monotonic_time(:millisecond)

for o <- owners do
  send(o, {:close, self()})

  receive do
    {:closed, ^o} -> :ok
  after
    30_000 -> raise "an owner did not close its sockets"
  end
end

close_ms = System.monotonic_time(:millisecond) - close_t0
fds_right_after_close = fds.()
Enum.each(owners, &send(&1, :stop))
settle.()
after_ = %{threads: threads.(), fds: fds.(), memory: :erlang.memory(:total)}

pct = fn x -> :erlang.float_to_binary(x * 1.0, decimals: 1) end
mib = fn bytes -> :erlang.float_to_binary((bytes - base.memory) / 1_048_576, decimals: 1) end

util_row = fn label, u ->
  per = fn type -> Enum.map_join(elem(u[type], 1), " / ", pct) end

  "| #{label} | #{pct.(elem(u.normal, 0))} (#{per.(:normal)}) | " <>
    "#{pct.(elem(u.cpu, 0))} (#{per.(:cpu)}) | #{pct.(elem(u.io, 0))} | #{pct.(u.total)} |"
end

{hostname, 0} = System.cmd("hostname", [])

erl_opts =
  case System.get_env("ELIXIR_ERL_OPTIONS") do
    nil -> ""
    "" -> ""
    flags -> "ELIXIR_ERL_OPTIONS=\"#{flags}\" "
  end

{os_family, os_name} = :os.type()

report = """
# Many sockets under load: #{count} #{label} sockets, one datagram per second each

- command: `#{erl_opts}mix run bench/socket_load.exs --count #{count} --seconds #{seconds} --owners #{owners_n}#{if kind == :gen_udp, do: " --gen-udp"}#{if opts[:out], do: " --out #{out}"}`
- machine: #{String.trim(hostname)} (#{os_family}/#{os_name}), #{:erlang.system_info(:logical_processors_available)} cores,
  #{System.schedulers_online()} normal / #{:erlang.system_info(:dirty_cpu_schedulers_online)} dirty CPU / #{:erlang.system_info(:dirty_io_schedulers)} dirty I/O schedulers, OTP #{System.otp_release()};
  descriptor limit of the VM #{fd_limit}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- #{count} #{label} sockets on 127.0.0.1, `active: true`, opened by #{owners_n} owner
  processes (#{per_owner} each, in #{open_ms} ms), each owner counting the
  datagrams of each of its sockets. The sender is a separate OS process (a
  second VM, `bench/socket_load_sender.exs`, one gen_udp socket): each
  port gets one 100-byte datagram per second for #{seconds} s, the
  #{count} ports spread evenly over each second (#{count} datagrams/s in all).

## Delivery

| datagrams sent | delivered | lost | sockets short of #{seconds} | sockets above #{seconds} | malformed |
|---|---|---|---|---|---|
| #{sent} | #{delivered} | #{lost} | #{short} | #{over} | #{bad} |

- sender: #{send_errors} send errors, #{sender_cpu_ms} ms of CPU in its VM
  for the run (#{run_ms} ms from spawning it to its exit, VM start included).
- the kernel's UDP counters over the run (`/proc/net/snmp`, the whole
  network namespace, so other traffic on the machine counts too):
  InDatagrams +#{kernel["InDatagrams"]}, RcvbufErrors +#{kernel["RcvbufErrors"]},
  InErrors +#{kernel["InErrors"]}, NoPorts +#{kernel["NoPorts"]}, SndbufErrors +#{kernel["SndbufErrors"]}.
- the receiving VM used #{pct.(cpu / 1.0e4 / (run_ms + 1_000))} % of one core
  over the run (CPU time of all its threads, `/proc/self/task/*/schedstat`,
  over #{run_ms + 1_000} ms).

## Threads, descriptors, memory of the receiving VM

| state | OS threads | descriptors | BEAM memory vs baseline (MiB) |
|---|---|---|---|
| baseline (before opening) | #{base.threads} | #{base.fds} | 0.0 |
| #{count} sockets open, idle | #{opened.threads} | #{opened.fds} | #{mib.(opened.memory)} |
| during the run (at #{div(seconds, 2) + 2} s) | #{during.threads} | #{during.fds} | #{mib.(during.memory)} |
| after close/1 of all and the owners' exit | #{after_.threads} | #{after_.fds} | #{mib.(after_.memory)} |

- during the run the VM also holds the two pipe descriptors of the port
  to the sender's OS process.
- the longest owner mailbox at the middle of the run: #{during.max_queue} messages.
- close/1 of all #{count} sockets (by their owners) took #{close_ms} ms;
  descriptors straight after the last close/1, before any garbage
  collection: #{fds_right_after_close} (baseline #{base.fds});
  #{if after_.fds == base.fds, do: "back to the baseline", else: "NOT back to the baseline (#{after_.fds - base.fds} more)"} after the owners' exit.

## Scheduler utilisation (`:scheduler.utilization/2`)

Percent of wall time each scheduler was busy; per type, the mean over
the schedulers of the type (each scheduler in parentheses; dirty I/O as
the mean of #{length(elem(run.io, 1))}).

| interval | normal | dirty CPU | dirty I/O | total |
|---|---|---|---|---|
#{util_row.("#{count} sockets open, no traffic (5 s)", idle)}
#{util_row.("the run, #{count} datagrams/s (#{div(run_ms + 1_000, 1000)} s)", run)}

Scheduler utilisation counts the time schedulers run processes, ports and
NIFs; the VM's CPU time above also includes the schedulers' busy-waiting
before they sleep (`+sbwt`, `+sbwtdcpu`, `+sbwtdio`; medium/short by
default) and the poll thread, which each burst of datagrams (the sender
wakes once a millisecond) sets going.
"""

File.mkdir_p!("bench/results")
File.write!(out, report)
IO.puts(report)
