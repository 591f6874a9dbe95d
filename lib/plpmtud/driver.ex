defmodule PLPMTUD.Driver do
  # The driver's own probes it remembers (newest first), at most.
  @recent_probes 16

  @moduledoc """
  Drives a prober handle over a real socket: sends the probes it asks for,
  matches answers and ICMP errors to the probes in flight, and reports lost
  ones at their deadline. It is plain data, owned by the process that owns
  the socket (the socket's messages go to that process); `PLPMTUD.PathProbe`
  runs it in a loop, `PLPMTUD.Prober` in autonomous mode from its callbacks.

  Every function returns the events it produced, oldest first: the prober's
  own answers (`t:PLPMTUD.event/0`: `{:probe_acked, ...}`, `{:probe_lost, ...}`,
  `{:mtu_changed, ...}`, `{:ptb, mtu, verdict}`, `{:emsgsize, mtu, verdict}`,
  ...), passed through as they come, and the driver's:

    * `{:probe_sent, id, size}`
    * `{:base_rtt, rtt_ms}` - the answer to the base datagram (below)
    * `{:heartbeat_acked, size}`, `{:heartbeat_lost, size}`
    * `{:ignored, reason}` - a datagram that answers no pending probe

  Heartbeats (optional) stand in for a transport's data when the driver runs
  alone: every `:heartbeat` ms it sends a datagram of the current PLPMTU and
  reports its fate to the prober as a data packet (`PLPMTUD.on_ack/4`,
  `PLPMTUD.on_lost/4`), which is what black-hole detection watches. They
  are answered like probes, so the peer needs no extra support.

  The prober's handle works in IP bytes (`size_unit: :ip`, see
  `prober_config/2`). Every datagram carries a fresh random 64-bit nonce,
  which is also its sequence number for the prober: answers are matched by
  the nonce they echo; an ICMP Packet-Too-Big is handed to the prober with
  the bytes it quotes, which the prober matches against the first bytes of
  the probes it has in flight (`PLPMTUD.on_send/5`, `PLPMTUD.on_ptb/4`), so
  an off-path attacker who knows the 5-tuple and this scheme still has to
  guess 64 random bits (RFC 8899 §4.6.1).

  Which probes are still awaited, and at what size, is the prober's to
  know (its snapshot's `in_flight` and `probing`); the driver keeps only
  what the prober cannot: the nonces and sizes of its last
  #{@recent_probes} probes (to tell a late answer from an unsolicited one),
  its sentinels, heartbeats, and the probes it declared lost by evidence
  lately (to widen the reordering window when one is answered after all).

  With its first send the driver also sends one base datagram of the
  current PLPMTU (the floor, or `mtu_initial`), which the path carries: its
  answer is the first RTT sample, so probe timeouts follow the path's RTT
  from the first probe on (the first probe's own 1 s wait shrinks with it)
  instead of waiting 1 s per lost probe until a probe is answered.

  A local EMSGSIZE (the sender's own interface or route is narrower than
  the probe) limits the search at once and the next probe is sent in the
  same call, so discovery never waits on a probe that cannot leave.

  Loss by evidence, not by timers: the probes of a size go together (the
  prober's `probe_copies`, 3 unless configured: a size fails when all
  three are lost), followed by a sentinel, a datagram at the floor (which
  every path carries). The sentinel left after the probes on the same
  path, so when its answer comes and a probe's has not within a
  reordering window (a quarter of the sentinel's round trip, RFC 8985's
  rule, in whole milliseconds, widened by 1, 2, 4 ... up to 64 ms each time
  a probe so declared is answered after all), that probe is lost
  (`:dup_ack`); the probe
  timeout is only the last resort, when nothing comes back at all. A size
  that fails then costs about one round trip, not three probe timeouts.
  """

  alias PLPMTUD.{Socket, Wire}

  # The most a reordering seen on the path widens the window by (ms).
  @max_reo_extra_ms 64

  @enforce_keys [:prober, :socket, :mode, :family]
  defstruct [
    :prober,
    :socket,
    :mode,
    :family,
    :overhead,
    heartbeat: nil,
    base: nil,
    next_heartbeat_at: 0,
    heartbeats: %{},
    probes: [],
    sentinels: %{},
    evidence: %{},
    declared: %{},
    reo_extra: 0,
    sent: 0,
    sizes: [],
    ignored: 0
  ]

  @typedoc "A driver."
  @type t :: %__MODULE__{
          prober: PLPMTUD.t(),
          socket: Socket.t(),
          mode: Wire.mode(),
          family: Wire.family(),
          overhead: non_neg_integer(),
          heartbeat: pos_integer() | nil,
          base: nil | {Wire.nonce(), integer()} | :done,
          next_heartbeat_at: integer(),
          heartbeats: %{Wire.nonce() => {pos_integer(), integer()}},
          probes: [{Wire.nonce(), pos_integer()}],
          sentinels: %{Wire.nonce() => {[Wire.nonce()], integer()}},
          evidence: %{Wire.nonce() => integer()},
          declared: %{Wire.nonce() => integer()},
          reo_extra: non_neg_integer(),
          sent: non_neg_integer(),
          sizes: [pos_integer()],
          ignored: non_neg_integer()
        }

  @typedoc "What happened: a prober event or one of the driver's own."
  @type event ::
          PLPMTUD.event()
          | {:probe_sent, Wire.nonce(), pos_integer()}
          | {:base_rtt, non_neg_integer()}
          | {:heartbeat_acked | :heartbeat_lost, pos_integer()}
          | {:ignored, atom()}

  @doc """
  The prober configuration for probes the driver sends itself, over
  `config`: sizes in IP bytes (`size_unit: :ip`), the `family` (unless
  given), 8 bytes above IP (the UDP or ICMP header of its datagrams) and,
  unless given, a `min_probe_timeout` of 20 ms
  (its probes travel alone, so their round trips carry no queueing of a
  transfer, and a lost one costs the search 20 ms, not 100) and 3
  `probe_copies` (a size's tries go together, see above). `probe_sizes`
  stays 1: the driver's probes are datagrams of their own, and on the lab's
  sub-millisecond paths 4 sizes a round cost more sends than the rounds
  they save (`bench/results/example_search.md`).
  """
  @spec prober_config(PLPMTUD.Config.options(), Wire.family()) :: map()
  def prober_config(config, family) do
    config
    |> Map.new()
    |> Map.put_new(:family, family)
    |> Map.put(:size_unit, :ip)
    |> Map.put(:packet_overhead, 8)
    |> Map.put_new(:min_probe_timeout, 20)
    |> Map.put_new(:probe_copies, 3)
    |> Map.put_new(:search_threshold, 2)
  end

  @doc """
  A driver for `prober` over a connected `socket`; `heartbeat` is the
  interval of heartbeats in ms, or `nil` for none.
  """
  @spec new(PLPMTUD.t(), Socket.t(), Wire.mode(), Wire.family(), pos_integer() | nil) :: t()
  def new(prober, socket, mode, family, heartbeat \\ nil),
    do: %__MODULE__{
      prober: prober,
      socket: socket,
      mode: mode,
      family: family,
      overhead: PLPMTUD.info(prober).overhead,
      heartbeat: heartbeat
    }

  @doc """
  Sends the probe that is due, if any, else a heartbeat when one is due.
  `{:error, reason, events, driver}` when the socket refuses it for a
  reason other than its size, `events` being what the prober answered
  before (a refusal for its size that lowered it) and `driver` what was
  sent before it (copies already out).
  """
  @spec send_due(t(), integer()) ::
          {:ok, [event()], t()} | {:error, term(), [event()], t()}
  def send_due(%{base: nil} = driver, now) do
    case transmit(driver, PLPMTUD.packet_size(driver.prober)) do
      {:ok, nonce, _quote, driver} -> send_due(%{driver | base: {nonce, now}}, now, [])
      _refused_or_failed -> send_due(%{driver | base: :done}, now, [])
    end
  end

  def send_due(driver, now), do: send_due(driver, now, [])

  # Each EMSGSIZE lowers the search limit below the refused size, so the
  # loop ends after at most log2(ceiling - floor) + 1 refusals.
  defp send_due(driver, now, earlier) do
    sent =
      case PLPMTUD.probe_size(driver.prober) do
        nil -> send_heartbeat(driver, now)
        size -> send_probe(driver, size, now)
      end

    case sent do
      {:retry, events, driver} ->
        send_due(driver, now, earlier ++ events)

      # Copies of the size (`probe_copies`) go in the same call.
      {:ok, [{:probe_sent, _, _}] = events, driver} ->
        send_due(driver, now, earlier ++ events)

      {:ok, events, driver} ->
        {:ok, earlier ++ events, send_sentinel(driver, earlier ++ events, now)}

      # The driver as it was before this send: it holds the copies sent.
      {:error, reason} ->
        {:error, reason, earlier, driver}
    end
  end

  defp send_heartbeat(%{heartbeat: nil} = driver, _now), do: {:ok, [], driver}

  defp send_heartbeat(driver, now) when now < driver.next_heartbeat_at,
    do: {:ok, [], driver}

  defp send_heartbeat(driver, now) do
    size = PLPMTUD.packet_size(driver.prober)
    driver = %{driver | next_heartbeat_at: now + driver.heartbeat}

    case transmit(driver, size) do
      {:ok, nonce, _quote, driver} ->
        {:ok, [], %{driver | heartbeats: Map.put(driver.heartbeats, nonce, {size, now})}}

      {:emsgsize, mtu, driver} ->
        events = limit(driver, size, mtu, now)
        {if(lowered?(events), do: :retry, else: :ok), events, driver}

      error ->
        error
    end
  end

  defp send_probe(driver, size, now) do
    case transmit(driver, size) do
      {:ok, nonce, quote, driver} ->
        {:ok, [{:probe_sent, nonce, size}], probe_sent(driver, nonce, size, quote, now)}

      {:emsgsize, mtu, driver} ->
        emsgsize(driver, size, mtu, now)

      error ->
        error
    end
  end

  # The prober records the probe, and the bytes a PTB must quote for it
  # (none for a probe the kernel refused: nothing can quote it).
  defp probe_sent(driver, nonce, size, quote, now) do
    :probe =
      if quote,
        do: PLPMTUD.on_send(driver.prober, nonce, size, quote, now),
        else: PLPMTUD.on_send(driver.prober, nonce, size, now)

    %{
      driver
      | probes: Enum.take([{nonce, size} | driver.probes], @recent_probes),
        sizes: if(size in driver.sizes, do: driver.sizes, else: [size | driver.sizes])
    }
  end

  # The kernel refused a probe of `size` and knows a path MTU of `mtu`
  # (`PLPMTUD.on_send_refused/5` takes it from there). When the
  # prober cannot lower its limit (the size is already at the floor), the
  # probe counts as sent and times out like a lost one: fallback, no stall.
  defp emsgsize(driver, size, mtu, now) do
    events = limit(driver, size, mtu, now)

    if lowered?(events) do
      {:retry, events, driver}
    else
      nonce = Wire.nonce()
      {:ok, events ++ [{:probe_sent, nonce, size}], probe_sent(driver, nonce, size, nil, now)}
    end
  end

  defp limit(driver, size, mtu, now),
    do: PLPMTUD.on_send_refused(driver.prober, nil, {:emsgsize, mtu}, size, now)

  # The sentinel after the probes this call sent (see the moduledoc).
  # Best effort: a sentinel that cannot leave leaves them to their timeout.
  defp send_sentinel(driver, events, now) do
    case for({:probe_sent, nonce, _size} <- events, do: nonce) do
      [] ->
        driver

      probes ->
        case transmit(driver, PLPMTUD.base_size(driver.prober)) do
          {:ok, nonce, _quote, driver} ->
            %{driver | sentinels: Map.put(driver.sentinels, nonce, {probes, now})}

          _refused_or_failed ->
            driver
        end
    end
  end

  defp lowered?([{:emsgsize, _mtu, :accepted} | _]), do: true
  defp lowered?(_events), do: false

  # Sends one datagram of `size` IP bytes under a fresh nonce; answers
  # what an ICMP error about it quotes (see quote_of/2).
  defp transmit(driver, size) do
    nonce = Wire.nonce()
    driver = %{driver | sent: driver.sent + 1}
    sizes = {size, max(size - driver.overhead, 0)}
    datagram = Wire.probe(driver.mode, driver.family, nonce, sizes, driver.sent)

    case Socket.send(driver.socket, datagram) do
      :ok -> {:ok, nonce, quote_of(driver.mode, datagram), driver}
      {:error, {:emsgsize, mtu}} when is_integer(mtu) -> {:emsgsize, mtu, driver}
      {:error, reason} -> {:error, reason}
    end
  end

  @doc """
  Sends one datagram of the current PLPMTU outside the search, to measure
  the round trip: `{:ok, nonce, driver}`, the answer being `{:ack, nonce,
  _}` from `PLPMTUD.Wire.parse_reply/3`; `{:error, reason}` when it could
  not be sent. See `rtt_measured/2`.
  """
  @spec send_base(t()) :: {:ok, Wire.nonce(), t()} | {:error, term()}
  def send_base(driver) do
    case transmit(driver, PLPMTUD.packet_size(driver.prober)) do
      {:ok, nonce, _quote, driver} -> {:ok, nonce, driver}
      {:emsgsize, mtu, _driver} -> {:error, {:emsgsize, mtu}}
      error -> error
    end
  end

  @doc """
  The round trip measured before the search (see `send_base/1`): the
  prober's first RTT sample, in place of the answer to the base datagram,
  which is then not sent.
  """
  @spec rtt_measured(t(), non_neg_integer()) :: t()
  def rtt_measured(driver, rtt_ms) do
    PLPMTUD.on_rtt(driver.prober, rtt_ms)
    %{driver | base: :done}
  end

  @doc """
  Holds the next heartbeat back until `at` (ms) at least: after a send
  failed, so that `timeout/2` does not ask for a send before then.
  """
  @spec defer(t(), integer()) :: t()
  def defer(driver, at), do: %{driver | next_heartbeat_at: max(driver.next_heartbeat_at, at)}

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
    case Wire.parse_reply(driver.mode, driver.family, data) do
      {:ack, nonce, _} when driver.base != nil and elem(driver.base, 0) == nonce ->
        {_, sent_at} = driver.base
        rtt = max(now - sent_at, 0)
        PLPMTUD.on_rtt(driver.prober, rtt)
        {:ok, [{:base_rtt, rtt}], %{driver | base: :done}}

      {:ack, nonce, _} when is_map_key(driver.heartbeats, nonce) ->
        heartbeat_acked(driver, nonce, now)

      {:ack, nonce, _} when is_map_key(driver.sentinels, nonce) ->
        sentinel_acked(driver, nonce, now)

      # Declared lost by evidence, answered after all: the path reorders
      # more than the window allowed, which widens from now on (RFC 8985).
      {:ack, nonce, _} when is_map_key(driver.declared, nonce) ->
        reo_extra = min(max(2 * driver.reo_extra, 1), @max_reo_extra_ms)
        driver = %{driver | declared: Map.delete(driver.declared, nonce), reo_extra: reo_extra}
        ignored(driver, :reordered)

      {:ack, nonce, _} ->
        case List.keyfind(driver.probes, nonce, 0) do
          {^nonce, size} -> probe_acked(driver, nonce, size, now)
          nil -> ignored(driver, :unsolicited)
        end

      {:ignored, reason} ->
        ignored(driver, reason)
    end
  end

  defp heartbeat_acked(driver, nonce, now) do
    {{size, _sent_at}, heartbeats} = Map.pop(driver.heartbeats, nonce)
    events = PLPMTUD.on_ack(driver.prober, nonce, size, now)
    {:ok, [{:heartbeat_acked, size} | events], %{driver | heartbeats: heartbeats}}
  end

  # The probes sent just before this sentinel are lost if their own
  # answers have not come within the reordering window: a quarter of the
  # sentinel's round trip (RFC 8985), in whole milliseconds; under 4 ms
  # that is none, and the probes not answered yet are lost now.
  defp sentinel_acked(driver, nonce, now) do
    {{probes, sent_at}, sentinels} = Map.pop(driver.sentinels, nonce)
    driver = %{driver | sentinels: sentinels}
    lost_at = now + div(now - sent_at, 4) + driver.reo_extra

    in_flight = PLPMTUD.info(driver.prober).in_flight

    evidence =
      for probe <- probes, probe in in_flight, into: driver.evidence do
        {probe, lost_at}
      end

    if lost_at > now do
      {:ok, [], %{driver | evidence: evidence}}
    else
      {events, driver} = lost_by_evidence(%{driver | evidence: evidence}, now)
      {:ok, events, forget_lost(driver, events, now)}
    end
  end

  # One of the driver's probes, answered: the prober knows whether it is
  # still awaited (a copy of a size already passed is not, nor one lost).
  defp probe_acked(driver, nonce, size, now) do
    driver = %{driver | evidence: Map.delete(driver.evidence, nonce)}

    case PLPMTUD.on_ack(driver.prober, nonce, size, now) do
      [] -> ignored(driver, :stale)
      events -> {:ok, events, driver}
    end
  end

  # The prober matches the quoted bytes against the probes it recorded
  # them for (the nonce: 64 random bits an off-path forger cannot guess).
  defp ptb(driver, report, now) do
    quoted = quote_of(driver.mode, report.quoted)
    {:ok, PLPMTUD.on_ptb(driver.prober, report.mtu, quoted, now), driver}
  end

  # What an ICMP error quotes of a datagram, and what the prober compares:
  # a UDP payload as sent; of an echo request, what follows its 8-byte
  # header (the kernel fills in the identifier and checksum).
  defp quote_of(:udp, bytes), do: bytes
  defp quote_of(:icmp, <<_header::binary-size(8), rest::binary>>), do: rest
  defp quote_of(:icmp, _short), do: <<>>

  defp ignored(driver, reason) do
    {:ok, [{:ignored, reason}], %{driver | ignored: driver.ignored + 1}}
  end

  @doc """
  Runs the prober's timers and the heartbeats' deadlines; reports the probe
  and heartbeats that timed out.
  """
  @spec tick(t(), integer()) :: {:ok, [event()], t()}
  def tick(driver, now) do
    {lost, driver} = expire_heartbeats(driver, now)
    {by_evidence, driver} = lost_by_evidence(driver, now)
    events = PLPMTUD.on_tick(driver.prober, now)
    {:ok, lost ++ by_evidence ++ events, forget_lost(driver, by_evidence ++ events, now)}
  end

  # Probes whose sentinel was answered a reordering window ago, their own
  # answer still missing (the prober still has them in flight).
  defp lost_by_evidence(driver, now) do
    %{probe_timeout: timeout, in_flight: in_flight} = PLPMTUD.info(driver.prober)
    # Evidence about a probe the prober no longer awaits is moot.
    {due, waiting} =
      driver.evidence
      |> Enum.filter(fn {probe, _} -> probe in in_flight end)
      |> Enum.split_with(fn {_, at} -> now >= at end)

    # A sentinel unanswered for a probe timeout will not be: forget it.
    sentinels = Map.reject(driver.sentinels, fn {_, {_, sent_at}} -> now >= sent_at + timeout end)
    # Probes declared lost are remembered while a late answer can come.
    stale = max(4 * timeout, 10_000)
    declared = Map.reject(driver.declared, fn {_, at} -> now >= at + stale end)

    events =
      case for {probe, _} <- Enum.sort_by(due, &elem(&1, 1)), do: probe do
        [] -> []
        probes -> elem(PLPMTUD.on_lost(driver.prober, probes, :dup_ack, now), 1)
      end

    driver = %{driver | evidence: Map.new(waiting), sentinels: sentinels, declared: declared}
    {events, driver}
  end

  defp expire_heartbeats(driver, _now) when map_size(driver.heartbeats) == 0, do: {[], driver}

  defp expire_heartbeats(driver, now) do
    timeout = probe_timeout(driver)

    {expired, alive} =
      Enum.split_with(driver.heartbeats, fn {_, {_, sent_at}} -> now >= sent_at + timeout end)

    lost =
      for {nonce, {size, _}} <- Enum.sort_by(expired, fn {_, {_, t}} -> t end),
          event <- [
            {:heartbeat_lost, size}
            | elem(PLPMTUD.on_lost(driver.prober, [{nonce, size}], :timeout, now), 1)
          ],
          do: event

    {lost, %{driver | heartbeats: Map.new(alive)}}
  end

  # The probe timeout in force (it follows the RTT samples), from the snapshot.
  defp probe_timeout(driver), do: PLPMTUD.info(driver.prober).probe_timeout

  # A probe lost: nothing waits on it any more (its sentinel's answer, if
  # it comes, is then ignored, and the sentinel forgotten at its expiry).
  # Lost by evidence, it is remembered a while, so that a late answer shows
  # the reordering window was too small.
  defp forget_lost(driver, events, now) do
    Enum.reduce(events, driver, fn
      {:probe_lost, nonce, _size, reason}, driver ->
        declared =
          if reason == :dup_ack,
            do: Map.put(driver.declared, nonce, now),
            else: driver.declared

        %{driver | evidence: Map.delete(driver.evidence, nonce), declared: declared}

      _event, driver ->
        driver
    end)
  end

  @doc "Milliseconds until `tick/2` or `send_due/2` is due, or `:infinity`."
  @spec timeout(t(), integer()) :: timeout()
  def timeout(driver, now) do
    heartbeat_expiries =
      case driver.heartbeats do
        empty when map_size(empty) == 0 ->
          []

        beats ->
          oldest = Enum.min(Enum.map(beats, fn {_, {_, t}} -> t end))
          [oldest + probe_timeout(driver)]
      end

    next_heartbeat = if driver.heartbeat, do: [driver.next_heartbeat_at], else: []
    evidence = Map.values(driver.evidence)

    case Enum.reject(
           [PLPMTUD.deadline(driver.prober) | heartbeat_expiries ++ next_heartbeat ++ evidence],
           &is_nil/1
         ) do
      [] -> :infinity
      deadlines -> until(Enum.min(deadlines), now)
    end
  end

  defp until(deadline, now) when is_integer(deadline) and is_integer(now),
    do: max(deadline - now, 0)
end
