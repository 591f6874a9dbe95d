# Reassembly cost from Elixir: the time one push takes with 1 and with 10^5
# incomplete messages held, and the time to complete a 3.8 MiB message (the
# most the default 4 MiB bound held before the per-message charge) and a
# 61.2 MiB one (the same at 64 MiB), split into 1 400-byte datagrams. For
# completion it reports the time spent on a normal scheduler (the NIF call
# `reassembler_push`) apart from the whole `PLPMTUD.Fragment.push/3` (which
# finishes big messages on a dirty CPU scheduler).
#
#   mix run bench/fragment.exs [--pushes N] [--reps R] [--out FILE]
#
# Writes bench/results/fragment.md unless --out says otherwise, keeping its
# "## Before" section (the figures of the code before the fix, recorded once).

defmodule Bench.Fragment do
  @moduledoc false
  import Bitwise
  alias PLPMTUD.Fragment

  @datagram 1_400

  def run(argv) do
    {opts, _, _} =
      OptionParser.parse(argv, strict: [pushes: :integer, reps: :integer, out: :string])

    pushes = Keyword.get(opts, :pushes, 2_000)
    reps = Keyword.get(opts, :reps, 5)
    out = Keyword.get(opts, :out, "bench/results/fragment.md")

    push_rows =
      for held <- [1, 100_000] do
        us = push_cost(held, pushes)
        "| #{held} | #{pushes} | #{fmt(us)} |"
      end

    completion_rows =
      for fragments <- [2_893, 46_343] do
        {size, normal, total} = completion(fragments, reps)

        "| #{fmt_bytes(size)} (#{fragments} fragments) | #{reps} | #{range(normal)} | #{range(total)} |"
      end

    text = """
    # Reassembly cost

    - command: `mix run bench/fragment.exs --pushes #{pushes} --reps #{reps}`
    - machine: #{hostname()}, #{System.schedulers_online()} schedulers; date: #{DateTime.utc_now() |> DateTime.truncate(:second) |> DateTime.to_iso8601()}
    - commit: #{commit()}

    One push (mean µs; a fresh 2-fragment message's first and second fragment,
    so the number of incomplete messages held stays constant):

    | incomplete messages held | pushes | µs per push |
    |---:|---:|---:|
    #{Enum.join(push_rows, "\n")}

    Completing a message (1 400-byte datagrams, all but the last fragment
    already held), ms, median (min–max):

    | message | reps | on a normal scheduler (NIF `reassembler_push`) | whole `Fragment.push/3` |
    |---|---:|---:|---:|
    #{Enum.join(completion_rows, "\n")}
    """

    IO.puts(text)
    File.write!(out, text <> kept(out))
  end

  # Mean µs per push with `held` incomplete messages in the reassembler.
  defp push_cost(held, pushes) do
    r = Fragment.reassembler(max_messages: held + 10, max_bytes: 1 <<< 34, timeout: 1 <<< 40)

    for id <- 1..held do
      {:ok, [first, _]} = Fragment.split(<<id::64, 0::640>>, id, 66)
      :more = Fragment.push(r, first, 0)
    end

    pairs =
      for id <- (held + 1)..(held + div(pushes, 2)) do
        {:ok, pair} = Fragment.split(<<id::64, 0::640>>, id, 66)
        pair
      end

    {us, _} =
      :timer.tc(fn ->
        Enum.each(pairs, fn [a, b] ->
          :more = Fragment.push(r, a, 0)
          {:ok, _} = Fragment.push(r, b, 0)
        end)
      end)

    us / (2 * length(pairs))
  end

  # A message of `fragments` full 1 400-byte datagrams, completed `reps`
  # times: {size, normal-scheduler ms list, total ms list}.
  defp completion(fragments, reps) do
    chunk = @datagram - Fragment.header_size()
    size = fragments * chunk
    bound = fragments * (chunk + 128) + 65_536
    message = :rand.bytes(size)

    samples =
      for rep <- 1..reps do
        {:ok, fragments} = Fragment.split(message, rep, @datagram)
        {last, rest} = List.pop_at(fragments, -1)
        r = Fragment.reassembler(max_bytes: bound)
        Enum.each(rest, fn f -> :more = Fragment.push(r, f, 0) end)
        :erlang.garbage_collect()
        {normal, answer} = :timer.tc(fn -> :plpmtud_nif.reassembler_push(r, 0, last) end)

        {finish, {:ok, ^message}} =
          :timer.tc(fn ->
            case answer do
              {:ok, m} -> {:ok, m}
              {:join, job} -> :plpmtud_nif.reassembler_join(job)
            end
          end)

        {normal / 1_000, (normal + finish) / 1_000}
      end

    {size, Enum.map(samples, &elem(&1, 0)), Enum.map(samples, &elem(&1, 1))}
  end

  # The "## Before" section of an earlier results file, if any.
  defp kept(out) do
    case File.read(out) do
      {:ok, old} ->
        case String.split(old, "\n## Before", parts: 2) do
          [_, before] -> "\n## Before" <> before
          _ -> ""
        end

      {:error, _} ->
        ""
    end
  end

  defp range(list) do
    sorted = Enum.sort(list)
    median = Enum.at(sorted, div(length(sorted), 2))
    "#{fmt(median)} (#{fmt(hd(sorted))}–#{fmt(List.last(sorted))})"
  end

  defp fmt(x) when x >= 100, do: :erlang.float_to_binary(x / 1, decimals: 0)
  defp fmt(x) when x >= 1, do: :erlang.float_to_binary(x / 1, decimals: 1)
  defp fmt(x), do: :erlang.float_to_binary(x / 1, decimals: 3)

  defp fmt_bytes(b), do: :erlang.float_to_binary(b / 1_048_576, decimals: 1) <> " MiB"

  defp hostname, do: :inet.gethostname() |> elem(1) |> to_string()

  defp commit do
    case System.cmd("git", ["rev-parse", "--short", "HEAD"], stderr_to_stdout: true) do
      {hash, 0} -> String.trim(hash)
      _ -> "unknown"
    end
  end
end

Bench.Fragment.run(System.argv())
