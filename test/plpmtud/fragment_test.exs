defmodule PLPMTUD.FragmentTest do
  use ExUnit.Case, async: true

  alias :plpmtud_nif, as: Native
  alias PLPMTUD.Fragment

  # A fragment under `id` as an off-path forger writes it: any index, count,
  # checksum and payload (the header layout is public).
  defp forged(id, index, count, crc, payload),
    do: <<"PF", 1, 0, id::32, index::16, count::16, crc::32, payload::binary>>

  test "forged fragments under the expected id do not block the real message" do
    r = Fragment.reassembler()

    for id <- 1..5 do
      message = :rand.bytes(9_000)
      {:ok, real} = Fragment.split(message, id, 1_000)
      count = length(real)

      fakes =
        for index <- 0..(count - 1), c <- [count, count + 1, 2] do
          forged(id, rem(index, c), c, :rand.uniform(0xFFFFFFFF), :rand.bytes(900))
        end

      {before, during} = Enum.split(fakes, div(length(fakes), 2))
      Enum.each(before, &Fragment.push(r, &1, 0))

      chunks = Enum.chunk_every(during, 2)

      answers =
        real
        |> Enum.with_index()
        |> Enum.map(fn {f, k} ->
          answer = Fragment.push(r, f, 0)
          Enum.each(Enum.at(chunks, k, []), &Fragment.push(r, &1, 0))
          answer
        end)

      assert List.last(answers) == {:ok, message}
      assert Enum.all?(Enum.drop(answers, -1), &(&1 == :more)), inspect(answers)
    end

    stats = Fragment.stats(r)
    assert stats.completed == 5
    assert stats.inconsistent > 0
    assert stats.bytes_held <= 4 * 1024 * 1024
  end

  test "a flood of forged messages stays within max_bytes and the real message gets through" do
    bound = 256 * 1024
    r = Fragment.reassembler(max_bytes: bound, max_messages: 64)
    message = :rand.bytes(40 * 1_384)
    {:ok, real} = Fragment.split(message, 77, 1_400)

    delivered =
      Enum.flat_map(real, fn f ->
        for _ <- 1..10 do
          fake =
            forged(76 + :rand.uniform(3), 0, 41, :rand.uniform(0xFFFFFFFF), :rand.bytes(1_384))

          Fragment.push(r, fake, 0)
          assert Fragment.stats(r).bytes_held <= bound
        end

        case Fragment.push(r, f, 0) do
          {:ok, m} -> [m]
          :more -> []
        end
      end)

    assert delivered == [message]
    assert %{peak_bytes: peak, evicted: evicted} = Fragment.stats(r)
    assert peak <= bound
    assert evicted > 300
  end

  test "completing a 3.7 MiB message takes under 2 ms on a normal scheduler" do
    message = :rand.bytes(3_900_000)
    {:ok, fragments} = Fragment.split(message, 1, 1_400)
    {last, rest} = List.pop_at(fragments, -1)
    r = Fragment.reassembler()
    Enum.each(rest, &(:more = Fragment.push(r, &1, 0)))
    {us, answer} = :timer.tc(fn -> Native.reassembler_push(r, 0, last) end)
    assert {:join, job} = answer
    assert us < 2_000, "#{us} µs on a normal scheduler"
    assert Native.reassembler_join(job) == {:ok, message}
    assert Native.reassembler_join(job) == {:error, :already_joined}
    assert %{completed: 1, bytes_held: 0, messages_held: 0} = Fragment.stats(r)
    assert Fragment.push(r, last, 0) == {:error, :duplicate_message}
    # Through the public function, in one call.
    {:ok, again} = Fragment.split(message, 2, 1_400)
    answers = Enum.map(again, &Fragment.push(r, &1, 0))
    assert List.last(answers) == {:ok, message}
  end

  test "a big message failing its checksum is refused and its retransmission taken" do
    message = :rand.bytes(200_000)
    {:ok, [first | rest]} = Fragment.split(message, 3, 1_400)
    <<head::binary-size(16), byte, tail::binary>> = first
    r = Fragment.reassembler()

    answers =
      Enum.map(
        [<<head::binary, Bitwise.bxor(byte, 1), tail::binary>> | rest],
        &Fragment.push(r, &1, 0)
      )

    assert List.last(answers) == {:error, :bad_checksum}
    answers = Enum.map([first | rest], &Fragment.push(r, &1, 0))
    assert List.last(answers) == {:ok, message}
    assert %{completed: 1, bad_checksum: 1} = Fragment.stats(r)
  end

  # Microseconds dirty CPU schedulers spent running code (NIFs) during `fun`,
  # with the time `fun` took.
  defp dirty_time(fun) do
    :msacc.start()
    {us, result} = :timer.tc(fun)
    :msacc.stop()

    dirty =
      for %{type: :dirty_cpu_scheduler, counters: counters} <- :msacc.stats(),
          reduce: 0,
          do: (acc -> acc + counters.emulator)

    {dirty, us, result}
  end

  # Times the process running `fun` was scheduled out before it finished.
  defp schedule_outs(fun) do
    parent = self()

    pid =
      spawn(fn ->
        receive do
          :go -> send(parent, {:done, self(), fun.()})
        end
      end)

    ref = Process.monitor(pid)
    :erlang.trace(pid, true, [:running])
    send(pid, :go)
    assert_receive {:done, ^pid, result}, 60_000
    assert_receive {:DOWN, ^ref, :process, ^pid, :normal}
    {count_outs(pid, 0), result}
  end

  defp count_outs(pid, n) do
    receive do
      {:trace, ^pid, :out, _} -> count_outs(pid, n + 1)
      {:trace, ^pid, _, _} -> count_outs(pid, n)
    after
      0 -> n
    end
  end

  test "a 20 MB message is split over many time slices and joined on a dirty CPU scheduler" do
    message = :rand.bytes(20_000_000)
    # One native call would not be scheduled out until it returned.
    {outs, {:ok, fragments}} = schedule_outs(fn -> Fragment.split(message, 1, 1_400) end)
    assert length(fragments) == div(20_000_000 + 1_383, 1_384)
    assert outs >= 10, "split of 20 MB scheduled out #{outs} times"
    r = Fragment.reassembler(max_bytes: 32_000_000)
    {last, rest} = List.pop_at(fragments, -1)
    Enum.each(rest, &(:more = Fragment.push(r, &1, 0)))
    # CPU time, not a share of the wall clock (a loaded machine stretches
    # the latter): joining 20 MB takes milliseconds of work, all of it on
    # dirty schedulers (0 when the NIF ran on a normal one).
    {dirty, us, {:ok, ^message}} = dirty_time(fn -> Fragment.push(r, last, 0) end)
    assert dirty >= 5_000, "join: #{dirty} of #{us} µs on dirty CPU schedulers"
  end

  test "the header is the documented layout, and bad sizes are refused" do
    crc = :erlang.crc32("hello world")

    assert Fragment.split("hello world", 5, 22) ==
             {:ok,
              [
                <<"PF", 1, 0, 5::32, 0::16, 2::16, crc::32, "hello ">>,
                <<"PF", 1, 0, 5::32, 1::16, 2::16, crc::32, "world">>
              ]}

    assert Fragment.split("", 0xFFFF_FFFF, 17) ==
             {:ok, [<<"PF", 1, 0, 0xFFFF_FFFF::32, 0::16, 1::16, 0::32>>]}

    assert Fragment.split("x", 1, 16) ==
             {:error, "datagram size 16 leaves no room after the 16-byte header"}

    assert Fragment.split(:binary.copy(<<0>>, 65_536), 1, 17) ==
             {:error, "message needs more than 65535 fragments"}

    for {message, id, size} <- [
          {"x", -1, 100},
          {"x", 0x1_0000_0000, 100},
          {:x, 1, 100},
          {"x", 1, -1}
        ] do
      assert_raise ArgumentError, fn -> Fragment.split(message, id, size) end
    end
  end
end
