# The sender of bench/socket_load.exs, run in its own VM (a separate OS
# process, so that its work and descriptors are not the measured VM's):
#
#   elixir bench/socket_load_sender.exs PORTS_FILE SECONDS
#
# PORTS_FILE holds one loopback UDP port per line. For SECONDS seconds,
# sends each port one 100-byte datagram per second, the N ports spread
# evenly over each second (port i at i/N s into it), from one gen_udp
# socket (waking at most once a millisecond, so several ports due in the
# same millisecond go together). Prints `sent ERRORS CPU_MS` when done.

[ports_file, seconds] = System.argv()
seconds = String.to_integer(seconds)

ports =
  ports_file
  |> File.read!()
  |> String.split()
  |> Enum.map(&String.to_integer/1)
  |> List.to_tuple()

n = tuple_size(ports)
total = n * seconds
lo = {127, 0, 0, 1}
{:ok, s} = :gen_udp.open(0, [:binary, ip: lo, sndbuf: 1_048_576])
pad = :binary.copy(<<0>>, 92)

defmodule Sender do
  # Sends every datagram whose time has come, then sleeps to the next one.
  def loop(_s, _ports, _n, _pad, j, total, _t0, _lo, errors) when j >= total, do: {j, errors}

  def loop(s, ports, n, pad, j, total, t0, lo, errors) do
    due = t0 + div(j * 1_000_000, n)
    now = System.monotonic_time(:microsecond)

    if due <= now do
      i = rem(j, n)
      second = div(j, n)

      errors =
        case :gen_udp.send(s, lo, elem(ports, i), [<<second::32, i::32>>, pad]) do
          :ok -> errors
          {:error, _} -> errors + 1
        end

      loop(s, ports, n, pad, j + 1, total, t0, lo, errors)
    else
      # 1 ms granularity: at 10 000 datagrams/s, bursts of about 10.
      Process.sleep(max(div(due - now, 1000), 1))
      loop(s, ports, n, pad, j, total, t0, lo, errors)
    end
  end
end

{cpu0, _} = :erlang.statistics(:runtime)
t0 = System.monotonic_time(:microsecond)
{sent, errors} = Sender.loop(s, ports, n, pad, 0, total, t0, lo, 0)
{cpu1, _} = :erlang.statistics(:runtime)
:gen_udp.close(s)
IO.puts("#{sent - errors} #{errors} #{cpu1 - cpu0}")
