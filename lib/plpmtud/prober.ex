defmodule PLPMTUD.Prober do
  @moduledoc """
  A process that runs path-MTU discovery for one path: it holds a prober
  handle, runs its probe-timeout and re-probe timers itself, and tells its
  subscribers what changed.

  Three ways to use it:

    * **Fed by a transport** (the default): the transport sends the probes
      and reports what happened with the calls of `PLPMTUD`, in the
      handle's unit (`:size_unit` of `:config`, payload bytes by default):
      `on_send/3`, `on_ack/3`, `on_lost/3`, `on_ptb/3`,
      `on_send_refused/3`, `on_rtt/2`. When a probe is due, subscribers get
      `{:plpmtud, prober, {:probe_due, size}}` (once per due size).
    * **With a probe sender**: given `:probe_sender`, a function of the
      size (in the handle's unit) that sends a probe of that size and
      returns `{:ok, id}`, the
      prober sends each probe as soon as it is due and records it; the
      transport reports only the answers (`acked/2`, `lost/3`, ...). The
      function runs inside the prober process, so it must not call the
      prober; `:error` or `{:error, reason}` is published as
      `{:send_failed, reason}` and the probe is retried after a second.
    * **Autonomous**: given `:peer` (and optionally `:socket_options` or
      `:mode`), it opens a DF socket and probes the peer itself: plpmtud
      probes to a `PLPMTUD.Responder` (`mode: :udp`) or ICMP echo
      (`mode: :icmp`). With `:heartbeat` (ms) it also sends a datagram of the
      current PLPMTU that often and reports its fate as data, so black holes
      are detected without a transport. Its handle works in IP bytes
      (`size_unit: :ip`).

  Each way is a probe source, an implementation of `PLPMTUD.Prober.Source`
  (`PLPMTUD.Prober.Fed`, `PLPMTUD.Prober.Sender`,
  `PLPMTUD.Prober.Autonomous`), chosen once from the options; the process
  around it holds the handle, the timer, the subscribers and telemetry.

  A send that fails (a probe or a heartbeat: no route, a firewall's EPERM,
  ...) is published as `{:send_failed, reason}` and nothing is sent again
  for a second, whatever is due meanwhile: a path that refuses every send
  costs one attempt and one event a second. In autonomous mode a send that
  fails with `:closed` (the prober's socket was closed under it) ends the
  prober: subscribers get `{:send_failed, :closed}`, then the process exits
  with reason `{:shutdown, :socket_closed}` (a supervisor restarts a
  permanent prober with a new socket, without a crash report; a linked
  process that does not trap exits exits with it). The prober learns it at
  its next send: the next probe, heartbeat or search.

  Subscribers receive `{:plpmtud, prober, event}` where `prober` is this
  process's pid and `event` is each `t:PLPMTUD.event/0` the prober answers,
  as it answers it (`{:mtu_changed, old, new, reason}`,
  `{:search_complete, size}`, `{:fallback, size, next_search_in_ms}`,
  `{:black_hole_confirmed, lost_size}`, `{:probe_lost, ...}`, ...), with
  `{:probe_due, size}` only when fed by a transport; plus
  `{:send_failed, reason}` when a probe or heartbeat could not be sent (see
  above). Subscribers are monitored; a subscriber that exits is
  dropped.

  The same events feed `:telemetry` when it is loaded (see
  `PLPMTUD.Telemetry`: `[:plpmtud, :prober, ...]` and `[:plpmtud, :ptb,
  :rejected]`), and fallbacks and confirmed black holes are logged as
  warnings, at most once a minute per prober and kind (by its `:clock`).

  Arguments of the wrong type or out of range raise `ArgumentError` in the
  caller; the prober process never sees them.

  ## Options

    * `:config` - prober options, see `PLPMTUD.Config` (merged over the app env)
    * `:name` - register the process
    * `:connected` - start discovery at once (default `true`)
    * `:clock` - a 0-arity function returning the time in ms of a monotonic
      clock (default `&PLPMTUD.now_ms/0`); every event is stamped with it
    * `:probe_sender` - `(size -> {:ok, id} | :error | {:error, reason})`,
      see above (not with `:peer`)
    * `:peer` - `{host, port}`: autonomous mode towards this peer; `host` is
      an address tuple or a host name, resolved when the prober starts
    * `:mode` - `:udp` (default) or `:icmp`, in autonomous mode
    * `:heartbeat` - heartbeat interval in ms, in autonomous mode (default none)
    * `:socket_options` - extra `PLPMTUD.Socket.open/2` options (e.g. `netns:`)
    * `:subscribe` - pids to subscribe from the start
    * `:cache` - in autonomous mode, start from the node-wide
      `PLPMTUD.Cache` (one probe confirms a cached MTU) and record what is
      learnt there (default `false`)
  """

  use GenServer

  alias PLPMTUD.Prober.{Autonomous, Fed, Sender, Subscribers}

  @typedoc "A prober process."
  @type server :: GenServer.server()

  @typedoc "Sends a probe of the given size (the handle's unit); see the module doc."
  @type probe_sender :: (pos_integer() -> {:ok, PLPMTUD.seq()} | :error | {:error, term()})

  # After a send failed (no route, EPERM, ...), send nothing for this long.
  @send_retry_ms 1_000

  # At most one Logger warning per prober and kind in this long.
  @warn_every_ms 60_000

  require Logger

  @max_u32 0xFFFF_FFFF

  # The longest timer the BEAM arms (`Process.send_after/3`); a deadline
  # further away (a clock that stepped back) is re-armed when this fires.
  @max_timer_ms 0xFFFF_FFFF
  @max_u64 0xFFFF_FFFF_FFFF_FFFF

  # `source` is the mode (a `PLPMTUD.Prober.Source`), `source_state` its state.
  defstruct [
    :handle,
    :source,
    :source_state,
    :timer,
    :cache_peer,
    :clock,
    :peer,
    :retry_at,
    :stop,
    subscribers: %{},
    warned: %{}
  ]

  @doc "A child spec; `:name` in the options names the process."
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(options) do
    %{
      id: Keyword.get(options, :name, __MODULE__),
      start: {__MODULE__, :start_link, [options]}
    }
  end

  @doc """
  Starts a prober process linked to the caller.

  What can fail is done in the caller before the process starts, and comes
  back as `{:error, reason}` while the caller lives on, trapping exits or
  not (under a supervisor it is a start failure):

    * `{:error, {:invalid_config, key, message}}` for a configuration key
      that is unknown, or a value of the wrong kind, out of range or
      inconsistent;
    * in autonomous mode, the resolver's reason for a `:peer` host name
      (string, charlist or atom) that does not resolve, such as
      `{:error, :nxdomain}`: the name is resolved with
      `PLPMTUD.Socket.resolve/2` in the `:family` of `:config` or
      `:socket_options`, else IPv4 (an address tuple is taken as it is);
    * in autonomous mode, `PLPMTUD.Socket.open/2`'s reason when the socket
      cannot be opened, such as `{:error, :enoent}` for a missing `netns:`.

  Unknown options and options of the wrong type raise `ArgumentError` in
  the caller.
  """
  @spec start_link(keyword()) :: GenServer.on_start()
  def start_link(options \\ []) do
    options =
      Keyword.validate!(options, [
        :name,
        :peer,
        :probe_sender,
        config: [],
        connected: true,
        clock: &PLPMTUD.now_ms/0,
        mode: :udp,
        heartbeat: nil,
        cache: false,
        socket_options: [],
        subscribe: []
      ])

    validate_start!(options)
    source = source!(options)
    gen_options = if options[:name], do: [name: options[:name]], else: []

    # What can fail is done here, in the caller: a failure is
    # `{:error, reason}` for it, never a stop of a linked process.
    with {:ok, options} <- source.prepare(options),
         {:ok, handle} <- PLPMTUD.new(options[:config]) do
      options = Keyword.merge(options, handle: handle, source: source)
      source.start(options, &GenServer.start_link(__MODULE__, &1, gen_options))
    end
  end

  # The one place the mode is chosen.
  defp source!(options) do
    case {options[:peer], options[:probe_sender]} do
      {nil, nil} -> Fed
      {nil, _sender} -> Sender
      {_peer, nil} -> Autonomous
      _both -> raise ArgumentError, ":probe_sender and :peer exclude each other"
    end
  end

  # Raises in the caller for what would otherwise crash the new process
  # (the source checks its own options). Values out of range are
  # `{:error, reason}` from start_link/1.
  defp validate_start!(options) do
    unless is_function(options[:clock], 0) do
      raise ArgumentError, ":clock must be a 0-arity function, got: #{inspect(options[:clock])}"
    end

    unless Enum.all?(options[:subscribe], &is_pid/1) do
      raise ArgumentError,
            ":subscribe must be a list of pids, got: #{inspect(options[:subscribe])}"
    end

    :ok
  end

  @doc "The size to segment data with now (the PLPMTU in the handle's unit)."
  @spec packet_size(server()) :: non_neg_integer()
  def packet_size(server), do: GenServer.call(server, {:query, :packet_size})

  @doc "The prober's snapshot (see `PLPMTUD.info/1`): state, sizes, stats, history, ..."
  @spec info(server()) :: map()
  def info(server), do: GenServer.call(server, {:query, :info})

  @doc """
  The prober handle inside the process, for reading without a process hop
  (`PLPMTUD.packet_size/1`, `PLPMTUD.probe_size/1`, `PLPMTUD.info/1`)
  from the sending process. Read only: events must go
  through this process, or its timers and subscribers miss them.
  """
  @spec handle(server()) :: PLPMTUD.t()
  def handle(server), do: GenServer.call(server, :handle)

  @doc "Starts a search now; the prober's answer (`[]` if disabled or already searching)."
  @spec probe_now(server()) :: [PLPMTUD.event()]
  def probe_now(server), do: GenServer.call(server, :probe_now)

  @doc "Turns discovery on (a fresh search) or off (the fixed `disabled_mtu`); the prober's answer."
  @spec set_enabled(server(), boolean()) :: [PLPMTUD.event()]
  def set_enabled(server, enabled),
    do: GenServer.call(server, {:set_enabled, boolean!(enabled, "enabled")})

  @doc "Subscribes `pid` (default: the caller) to this prober's events."
  @spec subscribe(server(), pid()) :: :ok
  def subscribe(server, pid \\ self()), do: GenServer.call(server, {:subscribe, pid!(pid)})

  @doc "Unsubscribes `pid` (default: the caller)."
  @spec unsubscribe(server(), pid()) :: :ok
  def unsubscribe(server, pid \\ self()), do: GenServer.call(server, {:unsubscribe, pid!(pid)})

  @doc "Packet `seq` of `size` is being sent (see `PLPMTUD.on_send/4`): `:probe` or `:normal`."
  @spec on_send(server(), PLPMTUD.seq(), non_neg_integer()) :: :probe | :normal
  def on_send(server, seq, size),
    do: GenServer.call(server, {:on_send, id!(seq), u32!(size, "size")})

  @doc "Packet `seq` of `size` was acknowledged (see `PLPMTUD.on_ack/4`); the prober's answer."
  @spec on_ack(server(), PLPMTUD.seq(), non_neg_integer()) :: [PLPMTUD.event()]
  def on_ack(server, seq, size),
    do: GenServer.call(server, {:on_ack, id!(seq), u32!(size, "size")})

  @doc """
  Packets lost together, `{seq, size}` or bare `seq`, by `:timeout`,
  `:dup_ack` or `:sack` (see `PLPMTUD.on_lost/4`): `{probe_seqs, events}`.
  """
  @spec on_lost(server(), [{PLPMTUD.seq(), non_neg_integer()} | PLPMTUD.seq()], atom()) ::
          {[PLPMTUD.seq()], [PLPMTUD.event()]}
  def on_lost(server, losses, reason),
    do: GenServer.call(server, {:on_lost, losses!(losses), reason!(reason)})

  @doc "An RTT sample in ms."
  @spec on_rtt(server(), non_neg_integer()) :: :ok
  def on_rtt(server, rtt_ms), do: GenServer.cast(server, {:on_rtt, u64!(rtt_ms, "rtt")})

  @doc """
  An ICMP Packet-Too-Big reporting `ip_mtu`, quoting `quote` (the quoted
  UDP payload, a probe's `seq`, or `nil`; see `PLPMTUD.on_ptb/4`); the
  prober's answer, starting with `{:ptb, ip_mtu, verdict}`.
  """
  @spec on_ptb(server(), pos_integer(), PLPMTUD.seq() | binary() | nil) :: [PLPMTUD.event()]
  def on_ptb(server, ip_mtu, quote) do
    quote = if is_nil(quote) or is_binary(quote), do: quote, else: id!(quote)
    GenServer.call(server, {:on_ptb, u32!(ip_mtu, "ip_mtu"), quote})
  end

  @doc """
  The local kernel refused a send of `size` with EMSGSIZE, knowing the path
  MTU `kernel_ip_mtu` (or `nil`); the prober's answer, starting with
  `{:emsgsize, limit, verdict}`.
  """
  @spec on_send_refused(server(), non_neg_integer(), pos_integer() | nil) :: [PLPMTUD.event()]
  def on_send_refused(server, size, kernel_ip_mtu) do
    kernel_ip_mtu = if is_nil(kernel_ip_mtu), do: nil, else: u32!(kernel_ip_mtu, "kernel_ip_mtu")
    GenServer.call(server, {:on_send_refused, u32!(size, "size"), kernel_ip_mtu})
  end

  defp id!(id), do: u64!(id, "probe id")

  defp u64!(value, _what) when is_integer(value) and value >= 0 and value <= @max_u64, do: value
  defp u64!(value, what), do: bad_argument!(what, "an integer in 0..2^64-1", value)

  defp u32!(value, _what) when is_integer(value) and value >= 0 and value <= @max_u32, do: value
  defp u32!(value, what), do: bad_argument!(what, "an integer in 0..2^32-1", value)

  defp reason!(reason) when reason in [:timeout, :dup_ack, :sack], do: reason
  defp reason!(reason), do: bad_argument!("loss reason", ":timeout, :dup_ack or :sack", reason)

  defp losses!([]), do: []
  defp losses!([{seq, size} | rest]), do: [{id!(seq), u32!(size, "size")} | losses!(rest)]
  defp losses!([seq | rest]), do: [id!(seq) | losses!(rest)]

  defp losses!(losses),
    do: bad_argument!("losses", "a list of {seq, size} or seq", losses)

  defp boolean!(value, _what) when is_boolean(value), do: value
  defp boolean!(value, what), do: bad_argument!(what, "a boolean", value)

  defp pid!(pid) when is_pid(pid), do: pid
  defp pid!(pid), do: bad_argument!("subscriber", "a pid", pid)

  @spec bad_argument!(String.t(), String.t(), term()) :: no_return()
  defp bad_argument!(what, expected, value),
    do: raise(ArgumentError, "#{what} must be #{expected}, got: #{inspect(value)}")

  @impl GenServer
  def init(options) do
    {:ok, _} = Registry.register(PLPMTUD.Registry, :probers, options[:peer])

    state = %__MODULE__{
      handle: options[:handle],
      source: options[:source],
      clock: options[:clock],
      peer: options[:peer],
      cache_peer: options[:cache_peer],
      subscribers: Enum.reduce(options[:subscribe], Subscribers.new(), &Subscribers.add(&2, &1))
    }

    {:ok, state, {:continue, {:init_source, options}}}
  end

  @impl GenServer
  def handle_continue({:init_source, options}, state) do
    case state.source.init(state.handle, options) do
      {:ok, source_state} ->
        {:noreply, %{state | source_state: source_state},
         {:continue, {:connected, options[:connected]}}}

      {:error, reason} ->
        {:stop, reason, state}
    end
  end

  def handle_continue({:connected, true}, state) do
    now = now(state)

    events =
      case state.cache_peer && PLPMTUD.Cache.lookup(state.cache_peer) do
        %{mtu: mtu} -> PLPMTUD.connected(state.handle, now, %{hint: mtu})
        _ -> PLPMTUD.connected(state.handle, now)
      end

    noreply(after_events(state, events))
  end

  def handle_continue({:connected, false}, state), do: noreply(after_events(state, []))

  @impl GenServer
  def handle_call({:query, query}, _from, state), do: {:reply, query(state.handle, query), state}

  def handle_call(:handle, _from, state), do: {:reply, state.handle, state}

  def handle_call(:probe_now, _from, state),
    do: answer(state, PLPMTUD.probe_now(state.handle, now(state)))

  def handle_call({:set_enabled, enabled}, _from, state),
    do: answer(state, PLPMTUD.set_enabled(state.handle, enabled, now(state)))

  def handle_call({:subscribe, pid}, _from, state),
    do: {:reply, :ok, %{state | subscribers: Subscribers.add(state.subscribers, pid)}}

  def handle_call({:unsubscribe, pid}, _from, state),
    do: {:reply, :ok, %{state | subscribers: Subscribers.remove(state.subscribers, pid)}}

  def handle_call({:on_send, seq, size}, _from, state),
    do: reply(PLPMTUD.on_send(state.handle, seq, size, now(state)), after_events(state, []))

  def handle_call({:on_ack, seq, size}, _from, state),
    do: answer(state, PLPMTUD.on_ack(state.handle, seq, size, now(state)))

  def handle_call({:on_lost, losses, reason}, _from, state) do
    {probes, events} = PLPMTUD.on_lost(state.handle, losses, reason, now(state))
    reply({probes, events}, after_events(state, events))
  end

  def handle_call({:on_ptb, ip_mtu, quote}, _from, state),
    do: answer(state, PLPMTUD.on_ptb(state.handle, ip_mtu, quote, now(state)))

  def handle_call({:on_send_refused, size, kernel_ip_mtu}, _from, state),
    do:
      answer(
        state,
        PLPMTUD.on_send_refused(state.handle, nil, {:emsgsize, kernel_ip_mtu}, size, now(state))
      )

  @impl GenServer
  def handle_cast({:on_rtt, rtt}, state) do
    PLPMTUD.on_rtt(state.handle, rtt)
    {:noreply, schedule(state)}
  end

  @impl GenServer
  def handle_info({:tick, ref}, %{timer: {ref, _}} = state) do
    state = %{state | timer: nil}
    {:ok, events, source_state} = state.source.tick(state.source_state, state.handle, now(state))
    noreply(after_events(%{state | source_state: source_state}, events))
  end

  def handle_info({:tick, _stale}, state), do: {:noreply, state}

  def handle_info({:DOWN, ref, :process, pid, _reason} = message, state) do
    case Subscribers.down(state.subscribers, ref, pid) do
      {:ok, subscribers} -> {:noreply, %{state | subscribers: subscribers}}
      :unknown -> handle_other(message, state)
    end
  end

  def handle_info(message, state), do: handle_other(message, state)

  # A message for the source (its socket's), if any.
  defp handle_other(message, state) do
    case state.source.handle_info(message, state.source_state, now(state)) do
      {:ok, events, source_state} ->
        noreply(after_events(%{state | source_state: source_state}, events))

      :unknown ->
        {:noreply, state}
    end
  end

  @impl GenServer
  def terminate(reason, state), do: state.source.terminate(reason, state.source_state)

  defp now(state), do: state.clock.()

  defp query(handle, :packet_size), do: PLPMTUD.packet_size(handle)
  defp query(handle, :info), do: PLPMTUD.info(handle)

  # Replies with the prober's answer to a call, after acting on it.
  defp answer(state, events), do: reply(events, after_events(state, events))

  # The prober stops once its socket is gone (see send_failed/2).
  defp reply(reply, %{stop: nil} = state), do: {:reply, reply, state}
  defp reply(reply, state), do: {:stop, state.stop, reply, state}

  defp noreply(%{stop: nil} = state), do: {:noreply, state}
  defp noreply(state), do: {:stop, state.stop, state}

  # After every event: publish what the prober answered, let the source
  # send what is due (publishing what that answers), re-arm the timer.
  defp after_events(state, events) do
    state |> publish(events) |> send_due() |> schedule()
  end

  defp send_due(%{stop: stop} = state) when stop != nil, do: state

  defp send_due(%{retry_at: at} = state) when at != nil do
    if now(state) >= at, do: send_due(%{state | retry_at: nil}), else: state
  end

  defp send_due(state) do
    case state.source.send_due(state.source_state, state.handle, now(state)) do
      {:ok, events, source_state} ->
        publish(%{state | source_state: source_state}, events)

      # What the prober answered before the send failed (a refusal that
      # lowered the size) is news too.
      {:error, reason, events, source_state} ->
        %{state | source_state: source_state} |> publish(events) |> send_failed(reason)
    end
  end

  # Nothing is sent again for @send_retry_ms, or the source ends the
  # prober (its own socket closed).
  defp send_failed(state, reason) do
    state = publish(state, [{:send_failed, reason}])
    retry_at = now(state) + @send_retry_ms

    case state.source.send_failed(state.source_state, reason, retry_at) do
      {:retry, source_state} -> %{state | retry_at: retry_at, source_state: source_state}
      {:stop, stop, source_state} -> %{state | stop: stop, source_state: source_state}
    end
  end

  # Subscribers get what the source calls news (a due probe only when
  # they send it) and failed sends. Telemetry and Logger get theirs (see
  # PLPMTUD.Telemetry).
  defp publish(state, []), do: state

  defp publish(state, events) do
    news = Enum.filter(events, &state.source.news?/1)
    remember(state.cache_peer, state.handle, news)
    Subscribers.publish(state.subscribers, self(), news)
    PLPMTUD.Telemetry.prober_events(news, self(), state.peer)
    Enum.reduce(news, state, &warn/2)
  end

  # Fallbacks and confirmed black holes are logged, at most once a minute
  # per prober and kind (by the prober's clock).
  defp warn({:fallback, mtu, next_in_ms}, state) do
    rate_limited(state, :fallback, fn ->
      "plpmtud: prober #{inspect(self())}#{peer_label(state.peer)}: probing failed even at " <>
        "the PLPMTU; fell back to MTU #{mtu}, next search in #{duration(next_in_ms)}"
    end)
  end

  defp warn({:black_hole_confirmed, lost}, state) do
    rate_limited(state, :black_hole, fn ->
      "plpmtud: prober #{inspect(self())}#{peer_label(state.peer)}: black hole confirmed: " <>
        "datagrams of #{lost} bytes stopped getting through"
    end)
  end

  defp warn(_event, state), do: state

  defp rate_limited(state, kind, message) do
    now = now(state)

    case state.warned do
      %{^kind => last} when now - last < @warn_every_ms ->
        state

      _ ->
        Logger.warning(message)
        %{state | warned: Map.put(state.warned, kind, now)}
    end
  end

  defp duration(ms) when ms < 1_000, do: "#{ms} ms"
  defp duration(ms), do: "#{div(ms, 1_000)} s"

  defp peer_label(nil), do: ""
  defp peer_label({ip, port}), do: " to #{PLPMTUD.Diagnostics.format_peer(ip, port)}"

  # Only a source that set a `:cache_peer` remembers (the autonomous one:
  # its handle's unit is IP bytes, as the cache's).
  # A black hole is remembered once confirmed (at the PLPMTU then in use, the
  # floor): the floor used while it is only suspected is not news for others.
  defp remember(nil, _handle, _events), do: :ok

  defp remember(peer, handle, events) do
    Enum.each(events, fn
      {:search_complete, mtu} ->
        PLPMTUD.Cache.record(peer, mtu, :probe_success)

      {:black_hole_confirmed, _} ->
        PLPMTUD.Cache.record(peer, PLPMTUD.packet_size(handle), :black_hole)

      _ ->
        :ok
    end)
  end

  defp schedule(state) do
    now = now(state)

    timeout = state.source.timeout(state.source_state, state.handle, now)

    timeout = if state.retry_at, do: min(timeout, max(state.retry_at - now, 0)), else: timeout

    case {timeout, state.timer} do
      {:infinity, nil} ->
        state

      {:infinity, {_ref, timer}} ->
        _ = Process.cancel_timer(timer)
        %{state | timer: nil}

      {ms, old} ->
        _ = if old, do: Process.cancel_timer(elem(old, 1))
        ref = make_ref()
        timer = Process.send_after(self(), {:tick, ref}, min(ms, @max_timer_ms))
        %{state | timer: {ref, timer}}
    end
  end
end
