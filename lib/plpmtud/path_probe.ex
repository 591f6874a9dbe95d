defmodule PLPMTUD.PathProbe do
  @moduledoc """
  Discovers the path MTU to one host, now, from the calling process: opens a
  DF socket (`:probe` policy), drives a prober, sends its probes, reads the
  answers and the ICMP errors, and returns when the search completes.

  Two modes: `:udp` probes a `PLPMTUD.Responder` on the peer; `:icmp` sends
  ICMP echo requests to any host that answers ping (no responder needed).

  Every step is reported to `:on_event` as it happens, so a tool can print it:

    * `{:probe_sent, id, size}`
    * `{:probe_acked, id, size, rtt_ms}`
    * `{:probe_lost, id, size, :timeout}`
    * `{:ptb, mtu, verdict}` - an ICMP Packet-Too-Big and what the prober made of it
    * `{:emsgsize, mtu}` - the local kernel refused a probe as too big
    * `{:ignored, reason}` - a datagram that is no answer to a pending probe
    * `{:notification, notification}` - see `PLPMTUD.notification/0`
  """

  alias PLPMTUD.{Socket, Wire}

  @typedoc "The outcome of a discovery."
  @type result :: %{
          mtu: pos_integer(),
          udp_payload: non_neg_integer(),
          state: PLPMTUD.state(),
          probes: non_neg_integer(),
          sizes: [pos_integer()],
          elapsed_ms: non_neg_integer(),
          ignored: non_neg_integer()
        }

  @doc """
  Discovers the path MTU to `ip`.

  ## Options

    * `:mode` - `:udp` (default) or `:icmp`
    * `:port` - the responder's port in `:udp` mode (default 4821)
    * `:netns` - probe from inside this network namespace
    * `:timeout` - give up after this many ms (default 60 000)
    * `:config` - prober options (see `PLPMTUD.Config`); `:family` is set from `ip`
    * `:on_event` - a 1-arity function called for each event

  Returns `{:ok, result}` or `{:error, reason}` (for example `:enetunreach`,
  `:eacces` when ping sockets are not allowed, `:timeout`).
  """
  @spec run(:inet.ip_address(), keyword()) :: {:ok, result()} | {:error, term()}
  def run(ip, options \\ []) do
    options =
      Keyword.validate!(options,
        mode: :udp,
        port: PLPMTUD.Responder.default_port(),
        netns: nil,
        timeout: 60_000,
        config: [],
        on_event: fn _ -> :ok end
      )

    family = if tuple_size(ip) == 4, do: :inet, else: :inet6
    mode = options[:mode]
    port = if mode == :icmp, do: 0, else: options[:port]
    overhead = 8
    config = Keyword.merge(options[:config], family: family, packet_overhead: overhead)

    with {:ok, prober} <- PLPMTUD.new(config),
         {:ok, socket} <- open(ip, port, family, mode, options[:netns]) do
      try do
        started = PLPMTUD.now_ms()
        PLPMTUD.connected(prober, started)

        state = %{
          prober: prober,
          socket: socket,
          mode: mode,
          family: family,
          on_event: options[:on_event],
          pending: %{},
          next_id: 1,
          probes: 0,
          sizes: [],
          ignored: 0,
          give_up_at: started + options[:timeout]
        }

        with {:ok, state} <- loop(state) do
          {:ok, result(state, started)}
        end
      after
        Socket.close(socket)
      end
    end
  end

  defp open(ip, port, family, mode, netns) do
    Socket.open(0,
      family: family,
      connect: {ip, port},
      df: :probe,
      active: true,
      netns: netns,
      transport: if(mode == :icmp, do: :icmp_echo, else: :udp)
    )
  end

  defp result(state, started) do
    mtu = PLPMTUD.mtu(state.prober)

    %{
      mtu: mtu,
      udp_payload: mtu - Wire.ip_header(state.family) - 8,
      state: PLPMTUD.state(state.prober),
      probes: state.probes,
      sizes: Enum.reverse(state.sizes),
      elapsed_ms: PLPMTUD.now_ms() - started,
      ignored: state.ignored
    }
  end

  defp loop(state) do
    now = PLPMTUD.now_ms()
    notify(state)

    cond do
      PLPMTUD.state(state.prober) in [:search_complete, :error] ->
        {:ok, state}

      now >= state.give_up_at ->
        {:error, :timeout}

      size = PLPMTUD.next_probe(state.prober) ->
        with {:ok, state} <- send_probe(state, size, now), do: loop(state)

      true ->
        state |> wait(now) |> loop()
    end
  end

  defp send_probe(state, size, now) do
    id = state.next_id
    datagram = Wire.probe(state.mode, state.family, id, size)

    case Socket.send(state.socket, datagram) do
      :ok ->
        :ok = PLPMTUD.probe_sent(state.prober, id, size, now)
        event(state, {:probe_sent, id, size})

        {:ok,
         %{
           state
           | pending: Map.put(state.pending, probe_key(state, id), {id, size, now}),
             next_id: id + 1,
             probes: state.probes + 1,
             sizes: if(size in state.sizes, do: state.sizes, else: [size | state.sizes])
         }}

      {:error, {:emsgsize, mtu}} when is_integer(mtu) ->
        event(state, {:emsgsize, mtu})
        PLPMTUD.emsgsize(state.prober, mtu, now)
        {:ok, %{state | next_id: id + 1}}

      {:error, reason} ->
        {:error, reason}
    end
  end

  # ICMP echo carries only the low 16 bits of the id.
  defp probe_key(%{mode: :icmp}, id), do: rem(id, 65_536)
  defp probe_key(_state, id), do: id

  defp wait(state, now) do
    deadline = PLPMTUD.deadline(state.prober) || state.give_up_at
    timeout = max(min(deadline, state.give_up_at) - now, 0)
    socket = state.socket

    receive do
      {:plpmtud_udp, ^socket, _ip, _port, data} -> answer(state, data)
      {:plpmtud_ptb, ^socket, report} -> ptb(state, report)
    after
      timeout -> tick(state)
    end
  end

  defp answer(state, data) do
    now = PLPMTUD.now_ms()

    with {:ack, key, _received} <- Wire.parse_reply(state.mode, state.family, data),
         {{id, size, sent_at}, pending} <- Map.pop(state.pending, key),
         true <- PLPMTUD.acked(state.prober, id, now) do
      PLPMTUD.rtt_sample(state.prober, now - sent_at)
      event(state, {:probe_acked, id, size, now - sent_at})
      %{state | pending: pending}
    else
      {:ignored, reason} -> ignored(state, reason)
      {nil, _pending} -> ignored(state, :unsolicited)
      false -> ignored(state, :stale)
    end
  end

  defp ptb(state, report) do
    key = Wire.quoted_id(state.mode, report.quoted)

    id =
      case Map.get(state.pending, key) do
        {id, _size, _sent_at} -> id
        nil -> nil
      end

    verdict = PLPMTUD.ptb(state.prober, report.mtu, id)
    event(state, {:ptb, report.mtu, verdict})
    state
  end

  defp tick(state) do
    lost_before = PLPMTUD.stats(state.prober).probes_lost_timeout
    PLPMTUD.tick(state.prober)

    if PLPMTUD.stats(state.prober).probes_lost_timeout > lost_before do
      {key, {id, size, _}} = Enum.max_by(state.pending, fn {_, {id, _, _}} -> id end)
      event(state, {:probe_lost, id, size, :timeout})
      %{state | pending: Map.delete(state.pending, key)}
    else
      state
    end
  end

  defp ignored(state, reason) do
    event(state, {:ignored, reason})
    %{state | ignored: state.ignored + 1}
  end

  defp notify(state) do
    for n <- PLPMTUD.notifications(state.prober), do: event(state, {:notification, n})
  end

  defp event(state, event), do: state.on_event.(event)
end
