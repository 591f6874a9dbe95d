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

  test "splitting and joining a 20 MB message run on dirty CPU schedulers" do
    message = :rand.bytes(20_000_000)
    {dirty, us, {:ok, fragments}} = dirty_time(fn -> Fragment.split(message, 1, 1_400) end)
    # CPU time, not a share of the wall clock (a loaded machine stretches
    # the latter): splitting 20 MB takes milliseconds of work, all of it
    # on dirty schedulers (0 when the NIF ran on a normal one).
    assert dirty >= 5_000, "split: #{dirty} of #{us} µs on dirty CPU schedulers"
    r = Fragment.reassembler(max_bytes: 32_000_000)
    {last, rest} = List.pop_at(fragments, -1)
    Enum.each(rest, &(:more = Fragment.push(r, &1, 0)))
    {dirty, us, {:ok, ^message}} = dirty_time(fn -> Fragment.push(r, last, 0) end)
    assert dirty >= 5_000, "join: #{dirty} of #{us} µs on dirty CPU schedulers"
  end
end
