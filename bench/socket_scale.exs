# Threads and descriptors of the VM with many open PLPMTUD.Socket sockets,
# counted from /proc/self/task and /proc/self/fd, next to gen_udp ports.
#
#   mix run bench/socket_scale.exs [--count N]
#
# Active and passive sockets are opened in turn (N of each at once), so that
# N + a few descriptors stay under the process limit (here 20 000). Writes bench/results/socket_scale.md.

{opts, _, _} = OptionParser.parse(System.argv(), strict: [count: :integer])
count = Keyword.get(opts, :count, 10_000)

alias PLPMTUD.Socket

lo = {127, 0, 0, 1}
threads = fn -> length(File.ls!("/proc/self/task")) end
fds = fn -> length(File.ls!("/proc/self/fd")) end

# Idle readers hibernate after 1 s; give them the time.
settle = fn ->
  Process.sleep(1_200)
  for p <- Process.list(), do: :erlang.garbage_collect(p)
  Process.sleep(200)
end

snapshot = fn label ->
  settle.()

  %{
    label: label,
    threads: threads.(),
    fds: fds.(),
    processes: length(Process.list()),
    memory: :erlang.memory(:total)
  }
end

open_many = fn n, options ->
  for _ <- 1..n do
    {:ok, s} = Socket.open(0, [ip: lo] ++ options)
    s
  end
end

# Every active socket delivers: one datagram to each, counted in the owner.
deliver_all = fn sockets ->
  {:ok, client} = Socket.open(0, ip: lo, active: false)

  for s <- sockets do
    {:ok, {_, port}} = Socket.sockname(s)
    :ok = Socket.send_to(client, lo, port, "x")
  end

  got =
    Enum.reduce_while(1..length(sockets), 0, fn _, n ->
      receive do
        {:plpmtud_udp, _, _, _, "x"} -> {:cont, n + 1}
      after
        2_000 -> {:halt, n}
      end
    end)

  Socket.close(client)
  got
end

# Every passive socket answers recv/2.
recv_all = fn sockets ->
  {:ok, client} = Socket.open(0, ip: lo, active: false)

  for s <- sockets do
    {:ok, {_, port}} = Socket.sockname(s)
    :ok = Socket.send_to(client, lo, port, "y")
  end

  got = Enum.count(sockets, fn s -> match?({:ok, {_, _, "y"}}, Socket.recv(s, 2_000)) end)
  Socket.close(client)
  got
end

# Warm up: scheduler-local receive buffers, code loading.
warm = open_many.(10, active: true)
_ = deliver_all.(warm)
Enum.each(warm, &Socket.close/1)

base = snapshot.("VM baseline")

first = open_many.(1_000, active: true)
s1 = snapshot.("+1 000 active")
rest = open_many.(count - 1_000, active: true)
active = first ++ rest
s2 = snapshot.("+#{count} active")
delivered = deliver_all.(active)
s2b = snapshot.("+#{count} active, after one datagram to each")

close_started = System.monotonic_time(:microsecond)
Enum.each(active, &Socket.close/1)
close_us = System.monotonic_time(:microsecond) - close_started
# Straight after close/1, before any garbage collection:
fds_right_after_close = fds.()
s3 = snapshot.("after close/1 of the active ones")

passive = open_many.(count, active: false)
s4 = snapshot.("+#{count} passive")
received = recv_all.(passive)

# A process waiting in recv/2 on each passive socket.
parent = self()

waiters =
  for s <- passive do
    spawn(fn -> send(parent, {:waited, Socket.recv(s, :infinity)}) end)
  end

s4w = snapshot.("+#{count} passive, a process waiting in recv/2 on each")
{:ok, client} = Socket.open(0, ip: lo, active: false)

for s <- passive do
  {:ok, {_, port}} = Socket.sockname(s)
  :ok = Socket.send_to(client, lo, port, "z")
end

woken =
  Enum.count(waiters, fn _ ->
    receive do
      {:waited, {:ok, {_, _, "z"}}} -> true
    after
      2_000 -> false
    end
  end)

Socket.close(client)
Enum.each(passive, &Socket.close/1)
fds_right_after_close2 = fds.()
s5 = snapshot.("after close/1 of the passive ones")

ports =
  for _ <- 1..count do
    {:ok, p} = :gen_udp.open(0, ip: lo, active: true)
    p
  end

g1 = snapshot.("reference: +#{count} gen_udp ports (active: true)")
Enum.each(ports, &:gen_udp.close/1)
g2 = snapshot.("reference: after gen_udp:close/1 of all")

rows = [base, s1, s2, s2b, s3, s4, s4w, s5, g1, g2]

fmt_row = fn r ->
  "| #{r.label} | #{r.threads} | #{r.threads - base.threads} | #{r.fds} | #{r.fds - base.fds} | " <>
    "#{r.processes - base.processes} | #{Float.round((r.memory - base.memory) / 1_048_576, 1)} |"
end

{os_family, os_name} = :os.type()

report = """
# Sockets at scale: OS threads and descriptors of the VM

- command: `mix run bench/socket_scale.exs --count #{count}`
- machine: #{os_family}/#{os_name}, #{System.schedulers_online()} schedulers, OTP #{System.otp_release()}
- date: #{DateTime.utc_now() |> DateTime.to_iso8601()}
- threads: entries of /proc/self/task of the VM; descriptors: entries of /proc/self/fd
- the descriptor limit of the VM is 20 000 here, so the #{count} active and
  #{count} passive sockets are open in turn, not together

| state | OS threads | vs baseline | descriptors | vs baseline | BEAM processes vs baseline | BEAM memory vs baseline (MiB) |
|---|---|---|---|---|---|---|
#{Enum.map_join(rows, "\n", fmt_row)}

- #{delivered} of #{count} active sockets delivered the datagram sent to each
  (`{:plpmtud_udp, ...}` to the owner); #{received} of #{count} passive sockets
  returned theirs from `recv/2`; with #{count} processes waiting in
  `recv/2` (one per passive socket, no thread or dirty scheduler held),
  #{woken} of #{count} got the datagram then sent to their socket.
- close/1 of #{count} active sockets took #{div(close_us, 1000)} ms; descriptors
  straight after the last close/1 (before any garbage collection):
  #{fds_right_after_close} (baseline #{base.fds}); after the passive ones:
  #{fds_right_after_close2}.
- Each socket is one descriptor and one BEAM reader process (hibernated
  after 1 s idle), no OS thread. Before this design each socket had a reader thread
  and five descriptors (the socket and two pipes), and close/1 left four of
  them open until the handle was garbage-collected.
"""

File.mkdir_p!("bench/results")
File.write!("bench/results/socket_scale.md", report)
IO.puts(report)
