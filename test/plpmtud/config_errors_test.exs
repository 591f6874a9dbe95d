defmodule PLPMTUD.ConfigErrorsTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.Prober

  # Every key of the core's table: {key, expected, default, {min, max}, doc}.
  @table :plpmtud_nif.config_table_entries()
  @int_keys for {key, "a non-negative" <> _, _, range, _} <- @table, do: {key, range}
  @defaults Map.new(@table, fn {key, _, default, _, _} -> {key, default} end)

  @time_keys [
    :probe_timeout,
    :min_probe_timeout,
    :max_probe_timeout,
    :mtu_probe_interval,
    :max_probe_interval
  ]
  @max_time 0xFFFF_FFFF

  # What an error says, from either API: the key it names and the message.
  defp error_of(config) do
    elixir =
      try do
        PLPMTUD.new(config)
      rescue
        e in ArgumentError -> {:raised, e.message}
      end

    erlang = :plpmtud.new(config)

    case {elixir, erlang} do
      {{:ok, _}, {:ok, _}} ->
        :ok

      {{:error, {:invalid_config, key, message}}, {:error, {:invalid_config, key, message}}} ->
        {key, message}

      {{:raised, message}, {:error, {:invalid_config, key, message}}} ->
        {key, message}

      other ->
        flunk("the APIs disagree on #{inspect(config)}: #{inspect(other)}")
    end
  end

  defp assert_names(key, value) do
    case error_of(%{key => value}) do
      {^key, message} ->
        assert String.starts_with?(message, "#{key} "), message

      other ->
        flunk("#{key}: #{inspect(value)} gave #{inspect(other)}")
    end
  end

  # Values around each key's range and around every default (the other
  # keys' values a rule compares with).
  defp candidates({min, max}) do
    around = for {_, v} <- @defaults, is_integer(v), d <- [-1, 0, 1], do: v + d
    Enum.uniq([min - 1, min, max, max + 1, 0, 68, 575, 1279, 2 ** 44, 2 ** 64 - 1 | around])
  end

  test "every integer key out of its table range is refused naming that key" do
    assert length(@int_keys) >= 15

    for {key, {min, max}} <- @int_keys, value <- Enum.uniq([min - 1, max + 1, -1, 2 ** 64]) do
      assert_names(key, value)
    end
  end

  test "any single key whose value is refused is the key the error names" do
    refused =
      for {key, range} <- @int_keys,
          value <- candidates(range),
          error_of(%{key => value}) != :ok do
        assert_names(key, value)
        {key, value}
      end

    # The rules between keys are among them (values inside the table range).
    for pair <- [
          mtu_ceiling: 575,
          min_probe_timeout: 10_001,
          min_probe_timeout: 1_001,
          max_probe_timeout: 999,
          mtu_probe_interval: 14_400_001
        ],
        do: assert(pair in refused, inspect(pair))
  end

  test "a value of the wrong kind names its key" do
    for {key, _, _, _, _} <- @table, value <- ["text", 1.5, {1}] do
      assert {^key, message} = error_of(%{key => value})
      assert String.starts_with?(message, "#{key} "), message
    end
  end

  test "mtu_ceiling: 68 names mtu_ceiling" do
    assert {:mtu_ceiling, "mtu_ceiling must be at least 576, got 68"} =
             error_of(%{mtu_ceiling: 68})

    assert {:mtu_floor, "mtu_floor must be at most 1500, got 2000"} = error_of(%{mtu_floor: 2000})
  end

  test "time values above 2^32-1 ms are refused naming the key, in both modes" do
    for key <- @time_keys,
        value <- [@max_time + 1, 2 ** 44, 2 ** 64 - 1],
        mode <- [:fixed, :rtt] do
      config = %{key => value, :probe_timeout_mode => mode}

      assert {^key, message} = error_of(config)
      assert message == "#{key} must be at most #{@max_time}, got #{value}"
    end
  end

  # Answers every due probe at once until the search completes, so the
  # prober's timer is then armed for the next search.
  defp complete_search(prober) do
    receive do
      {:plpmtud, ^prober, {:probe_due, size}} ->
        id = System.unique_integer([:positive])
        :probe = Prober.on_send(prober, id, size)
        _ = Prober.on_ack(prober, id, size)
        complete_search(prober)

      {:plpmtud, ^prober, {:search_complete, mtu}} ->
        mtu
    after
      2_000 -> flunk("no search_complete")
    end
  end

  defp timer_ms(prober) do
    {_ref, timer} = :sys.get_state(prober).timer
    Process.read_timer(timer)
  end

  test "at the largest accepted time values the prober runs" do
    max = @max_time

    for config <- [
          [probe_timeout_mode: :fixed, probe_timeout: max],
          [min_probe_timeout: max, max_probe_timeout: max, probe_timeout: max],
          [max_probe_timeout: max],
          [mtu_probe_interval: max, max_probe_interval: max],
          [max_probe_interval: max]
        ] do
      {:ok, prober} = Prober.start_link(config: [size_unit: :ip] ++ config, subscribe: [self()])

      # The first probe in flight arms the probe timeout.
      assert_receive {:plpmtud, ^prober, {:probe_due, size}}
      :probe = Prober.on_send(prober, 0, size)
      assert timer_ms(prober) > Keyword.get(config, :probe_timeout, 1_000) - 1_000
      _ = Prober.on_ack(prober, 0, size)

      # The completed search arms the next one.
      assert complete_search(prober) == 1500
      assert timer_ms(prober) > Keyword.get(config, :mtu_probe_interval, 1_800_000) - 1_000
      assert Process.alive?(prober)
      assert Prober.info(prober).state == :search_complete
      GenServer.stop(prober)
    end
  end

  test "a clock that steps back far never arms a timer beyond the BEAM's limit" do
    {:ok, clock} = Agent.start_link(fn -> 2 ** 46 end)
    now = fn -> Agent.get(clock, & &1) end
    {:ok, prober} = Prober.start_link(config: [size_unit: :ip], clock: now, subscribe: [self()])
    Process.flag(:trap_exit, true)
    assert complete_search(prober) == 1500

    # The next search is 30 min after 2^46 ms: 2^46 ms away once the clock
    # reads 0; the timer is armed for at most 2^32-1 ms and re-armed.
    Agent.update(clock, fn _ -> 0 end)
    :ok = Prober.on_rtt(prober, 10)
    assert Prober.info(prober).state == :search_complete
    refute_received {:EXIT, ^prober, _}
    {ref, timer} = :sys.get_state(prober).timer
    assert is_reference(ref)
    assert Process.read_timer(timer) <= @max_time
  end
end
