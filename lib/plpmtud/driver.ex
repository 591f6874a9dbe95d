defmodule PLPMTUD.Driver do
  @moduledoc """
  Drives a prober handle over a real socket: sends the probes it asks for,
  matches answers and ICMP errors to the probes in flight, and reports lost
  ones at their deadline. It is plain data, owned by the process that owns
  the socket (the socket's messages go to that process); `PLPMTUD.PathProbe`
  runs it in a loop, `PLPMTUD.Prober` in autonomous mode from its callbacks.

  Every function returns the events it produced, oldest first:

    * `{:probe_sent, id, size}`, `{:probe_acked, id, size, rtt_ms}`,
      `{:probe_lost, id, size, :timeout}`
    * `{:ptb, mtu, verdict}`, `{:emsgsize, mtu}`, `{:ignored, reason}`
    * `{:notification, notification}` (see `t:PLPMTUD.notification/0`)
  """

  alias PLPMTUD.{Socket, Wire}

  @enforce_keys [:prober, :socket, :mode, :family]
  defstruct [
    :prober,
    :socket,
    :mode,
    :family,
    pending: %{},
    next_id: 1,
    probes: 0,
    sizes: [],
    ignored: 0
  ]

  @typedoc "A driver."
  @type t :: %__MODULE__{
          prober: PLPMTUD.t(),
          socket: Socket.t(),
          mode: Wire.mode(),
          family: Wire.family(),
          pending: %{non_neg_integer() => {non_neg_integer(), pos_integer(), integer()}},
          next_id: pos_integer(),
          probes: non_neg_integer(),
          sizes: [pos_integer()],
          ignored: non_neg_integer()
        }

  @typedoc "What happened."
  @type event :: tuple()

  @doc "A driver for `prober` over a connected `socket`."
  @spec new(PLPMTUD.t(), Socket.t(), Wire.mode(), Wire.family()) :: t()
  def new(prober, socket, mode, family),
    do: %__MODULE__{prober: prober, socket: socket, mode: mode, family: family}

  @doc """
  Sends the probe that is due, if any. `{:error, reason}` when the socket
  refuses it for a reason other than its size.
  """
  @spec send_due(t(), integer()) :: {:ok, [event()], t()} | {:error, term()}
  def send_due(driver, now) do
    case PLPMTUD.next_probe(driver.prober) do
      nil -> {:ok, notifications(driver), driver}
      size -> send_probe(driver, size, now)
    end
  end

  defp send_probe(driver, size, now) do
    id = driver.next_id
    driver = %{driver | next_id: id + 1}

    case Socket.send(driver.socket, Wire.probe(driver.mode, driver.family, id, size)) do
      :ok ->
        :ok = PLPMTUD.probe_sent(driver.prober, id, size, now)

        driver = %{
          driver
          | pending: Map.put(driver.pending, key(driver, id), {id, size, now}),
            probes: driver.probes + 1,
            sizes: if(size in driver.sizes, do: driver.sizes, else: [size | driver.sizes])
        }

        {:ok, [{:probe_sent, id, size} | notifications(driver)], driver}

      {:error, {:emsgsize, mtu}} when is_integer(mtu) ->
        PLPMTUD.emsgsize(driver.prober, mtu, now)
        {:ok, [{:emsgsize, mtu} | notifications(driver)], driver}

      {:error, reason} ->
        {:error, reason}
    end
  end

  # ICMP echo carries only the low 16 bits of the id.
  defp key(%{mode: :icmp}, id), do: rem(id, 65_536)
  defp key(_driver, id), do: id

  @doc """
  Handles a message of the driver's socket: an answer or an ICMP error.
  `:unknown` for any other message.
  """
  @spec handle_message(t(), term(), integer()) :: {:ok, [event()], t()} | :unknown
  def handle_message(%{socket: s} = driver, {:plpmtud_udp, s, _ip, _port, data}, now),
    do: answer(driver, data, now)

  def handle_message(%{socket: s} = driver, {:plpmtud_ptb, s, report}, now),
    do: ptb(driver, report, now)

  def handle_message(%{socket: s} = driver, {:plpmtud_udp_passive, s}, _now),
    do: {:ok, [], driver}

  def handle_message(_driver, _message, _now), do: :unknown

  defp answer(driver, data, now) do
    with {:ack, key, _received} <- Wire.parse_reply(driver.mode, driver.family, data),
         {{id, size, sent_at}, pending} <- Map.pop(driver.pending, key),
         true <- PLPMTUD.acked(driver.prober, id, now) do
      PLPMTUD.rtt_sample(driver.prober, max(now - sent_at, 0))
      driver = %{driver | pending: pending}
      {:ok, [{:probe_acked, id, size, now - sent_at} | notifications(driver)], driver}
    else
      {:ignored, reason} -> ignored(driver, reason)
      {nil, _pending} -> ignored(driver, :unsolicited)
      false -> ignored(driver, :stale)
    end
  end

  defp ptb(driver, report, now) do
    id =
      case Map.get(driver.pending, Wire.quoted_id(driver.mode, report.quoted)) do
        {id, _size, _sent_at} -> id
        nil -> nil
      end

    verdict = PLPMTUD.ptb(driver.prober, report.mtu, id, now)
    {:ok, [{:ptb, report.mtu, verdict} | notifications(driver)], driver}
  end

  defp ignored(driver, reason) do
    {:ok, [{:ignored, reason}], %{driver | ignored: driver.ignored + 1}}
  end

  @doc "Runs the prober's timers; reports the probe that timed out, if one did."
  @spec tick(t(), integer()) :: {:ok, [event()], t()}
  def tick(driver, now) do
    lost_before = PLPMTUD.stats(driver.prober).probes_lost_timeout
    PLPMTUD.tick(driver.prober, now)

    if PLPMTUD.stats(driver.prober).probes_lost_timeout > lost_before and driver.pending != %{} do
      {key, {id, size, _}} = Enum.max_by(driver.pending, fn {_, {id, _, _}} -> id end)
      driver = %{driver | pending: Map.delete(driver.pending, key)}
      {:ok, [{:probe_lost, id, size, :timeout} | notifications(driver)], driver}
    else
      {:ok, notifications(driver), driver}
    end
  end

  @doc "Milliseconds until `tick/2` is due, or `:infinity`."
  @spec timeout(t(), integer()) :: timeout()
  def timeout(driver, now) do
    case PLPMTUD.deadline(driver.prober) do
      nil -> :infinity
      deadline -> max(deadline - now, 0)
    end
  end

  defp notifications(driver),
    do: Enum.map(PLPMTUD.notifications(driver.prober), &{:notification, &1})
end
