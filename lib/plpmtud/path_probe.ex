defmodule PLPMTUD.PathProbe do
  @moduledoc """
  Discovers the path MTU to one host, now, from the calling process: opens a
  DF socket (`:probe` policy), drives a prober, sends its probes, reads the
  answers and the ICMP errors, and returns when the search completes.

  Two modes: `:udp` probes a `PLPMTUD.Responder` on the peer; `:icmp` sends
  ICMP echo requests to any host that answers ping (no responder needed).

  Every step is reported to `:on_event` as it happens, so a tool can print
  it: the events of `PLPMTUD.Driver` (`{:probe_sent, id, size}`,
  `{:ignored, reason}`) and the prober's own (`t:PLPMTUD.event/0`), among
  them:

    * `{:probe_acked, id, size, rtt_ms}`, `{:probe_lost, id, size, :timeout}`
    * `{:ptb, mtu, verdict}` - an ICMP Packet-Too-Big and what the prober made of it
    * `{:emsgsize, mtu, verdict}` - the local kernel refused a probe as too big
    * `{:icmp_error, reason}` - an ICMP error other than Packet-Too-Big
      (`:ehostunreach`, ...); a port unreachable (`:econnrefused`: nothing
      listens there) ends the run with `{:error, :econnrefused}`
    * `{:progress, %{probes: n, mtu: plpmtu, elapsed_ms: ms}}` - with
      `:progress_every`, that often while the search runs
    * `{:base_rtt, rtt_ms}` - the round trip measured before the search

  Before the search it exchanges `:rtt_samples` datagrams of the initial
  PLPMTU (which the path carries) with the peer, one after the other, and
  gives the prober the smallest round trip as its first RTT sample, so the
  probe timeouts follow the path's RTT (at least `min_probe_timeout`, 20 ms
  here) from the first probe on: the first exchange of a fresh VM and of a
  path whose routers must first resolve their neighbours takes tens of ms,
  and as the only sample it made every lost probe wait 100 ms or more. A
  sample not answered within a second ends the exchanges (the prober then
  measures the round trip as usual); once one is answered, the next ones
  wait at most four times the smallest round trip so far (20 ms at least),
  so a datagram lost on a lossy path costs milliseconds, not a second.
  """

  alias PLPMTUD.{Driver, Socket, Wire}

  @typedoc "The outcome of a discovery."
  @type result :: %{
          mtu: pos_integer(),
          udp_payload: non_neg_integer(),
          ceiling: pos_integer(),
          capped: boolean(),
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
    * `:progress_every` - also call `:on_event` with `{:progress, ...}`
      this often (ms) while the search runs (default: never)
    * `:rtt_samples` - round trips measured before the search (default 3;
      0: none, the prober's first sample is the answer to its first datagram)

  In the result, `udp_payload` is the payload of a datagram of `mtu` bytes
  (in `:icmp` mode: the ICMP echo data), `ceiling` the search's upper
  bound and `capped` true when the ceiling stopped the search (no probe
  was lost or refused; it ends within `search_threshold` of the ceiling):
  the path MTU is at least `mtu`, maybe more.

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
        on_event: fn _ -> :ok end,
        progress_every: nil,
        rtt_samples: 3
      )

    family = Socket.family_of(ip)
    mode = options[:mode]
    port = if mode == :icmp, do: 0, else: options[:port]
    config = Driver.prober_config(options[:config], family)

    with {:ok, prober} <- PLPMTUD.new(config),
         {:ok, socket} <- open(ip, port, family, mode, options[:netns]) do
      try do
        started = PLPMTUD.now_ms()
        driver = Driver.new(prober, socket, mode, family)
        give_up_at = started + options[:timeout]

        with {:ok, driver} <-
               measure_rtt(driver, options[:rtt_samples], give_up_at, options[:on_event]) do
          search(driver, started, give_up_at, options)
        end
      after
        Socket.close(socket)
      end
    end
  end

  defp search(driver, started, give_up_at, options) do
    Enum.each(PLPMTUD.connected(driver.prober, PLPMTUD.now_ms()), options[:on_event])
    every = options[:progress_every]

    run = %{
      on_event: options[:on_event],
      give_up_at: give_up_at,
      started: started,
      every: every,
      next_progress_at: if(every, do: started + every)
    }

    with {:ok, driver} <- loop(driver, run) do
      {:ok, result(driver, started)}
    end
  end

  # Up to `count` base datagrams, each sent when the previous one is
  # answered; the smallest round trip becomes the prober's first sample.
  # The first waits a second (a fresh path may first resolve neighbours);
  # the later ones four times the best round trip so far, 20 ms at least.
  @sample_wait_ms 1_000
  @later_sample_min_wait_ms 20

  defp measure_rtt(driver, count, give_up_at, on_event) do
    case sample_rtts(driver, count, give_up_at, []) do
      {:ok, driver, []} ->
        {:ok, driver}

      {:ok, driver, rtts} ->
        rtt = Enum.min(rtts)
        on_event.({:base_rtt, rtt})
        {:ok, Driver.rtt_measured(driver, rtt)}

      {:error, _} = error ->
        error
    end
  end

  defp sample_rtts(driver, 0, _give_up_at, rtts), do: {:ok, driver, rtts}

  defp sample_rtts(driver, count, give_up_at, rtts) do
    with {:ok, nonce, driver} <- Driver.send_base(driver),
         sent_at = PLPMTUD.now_ms(),
         until = min(sent_at + sample_wait(rtts), give_up_at),
         {:ok, rtt} <- await_base(driver, nonce, sent_at, until) do
      sample_rtts(driver, count - 1, give_up_at, [rtt | rtts])
    else
      {:error, :econnrefused} = refused -> refused
      _unanswered_or_unsent -> {:ok, driver, rtts}
    end
  end

  defp sample_wait([]), do: @sample_wait_ms
  defp sample_wait(rtts), do: max(@later_sample_min_wait_ms, 4 * Enum.min(rtts))

  defp await_base(driver, nonce, sent_at, until) do
    socket = driver.socket

    receive do
      {:plpmtud_udp, ^socket, _, _, data} ->
        case Wire.parse_reply(driver.mode, driver.family, data) do
          {:ack, ^nonce, _} -> {:ok, PLPMTUD.now_ms() - sent_at}
          _other -> await_base(driver, nonce, sent_at, until)
        end

      {:plpmtud_udp_error, ^socket, :econnrefused} ->
        {:error, :econnrefused}
    after
      max(until - PLPMTUD.now_ms(), 0) -> :unanswered
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

  defp result(driver, started) do
    info = PLPMTUD.info(driver.prober)
    stats = info.stats
    mtu = PLPMTUD.packet_size(driver.prober)

    # Nothing said no (a loss, a PTB, EMSGSIZE): the ceiling stopped the search.
    limited =
      stats.probes_lost_timeout + stats.probes_lost_dup_ack + stats.ptb_accepted +
        stats.emsgsize_limits

    %{
      mtu: mtu,
      udp_payload: mtu - info.overhead,
      ceiling: info.ceiling_ip,
      capped: info.state == :search_complete and limited == 0,
      state: info.state,
      probes: stats.probes_sent,
      sizes: Enum.reverse(driver.sizes),
      elapsed_ms: PLPMTUD.now_ms() - started,
      ignored: driver.ignored
    }
  end

  defp loop(driver, run) do
    now = PLPMTUD.now_ms()

    cond do
      PLPMTUD.info(driver.prober).state in [:search_complete, :error] ->
        {:ok, driver}

      now >= run.give_up_at ->
        {:error, :timeout}

      true ->
        run = progress(driver, run, now)

        case Driver.send_due(driver, now) do
          {:ok, events, driver} ->
            Enum.each(events, run.on_event)
            with {:ok, driver} <- wait(driver, run, now), do: loop(driver, run)

          {:error, reason, events, _driver} ->
            Enum.each(events, run.on_event)
            {:error, reason}
        end
    end
  end

  defp progress(_driver, %{every: nil} = run, _now), do: run
  defp progress(_driver, %{next_progress_at: at} = run, now) when now < at, do: run

  defp progress(driver, run, now) do
    run.on_event.(
      {:progress,
       %{
         probes: PLPMTUD.info(driver.prober).stats.probes_sent,
         mtu: PLPMTUD.packet_size(driver.prober),
         elapsed_ms: now - run.started
       }}
    )

    %{run | next_progress_at: now + run.every}
  end

  # A message of the driver's socket, which the driver always knows.
  defp handle_message(driver, message) do
    case Driver.handle_message(driver, message, PLPMTUD.now_ms()) do
      :unknown -> {:ok, [], driver}
      known -> known
    end
  end

  # `receive ... after` takes at most 2^32-1 ms; a longer wait loops.
  @max_wait_ms 0xFFFF_FFFF

  defp wait(driver, run, now) do
    timeout = Enum.min([Driver.timeout(driver, now), run.give_up_at - now, @max_wait_ms])
    timeout = if run.every, do: min(timeout, run.next_progress_at - now), else: timeout
    socket = driver.socket

    received =
      receive do
        {:plpmtud_udp, ^socket, _, _, _} = message ->
          handle_message(driver, message)

        {:plpmtud_ptb, ^socket, _} = message ->
          handle_message(driver, message)

        {:plpmtud_udp_error, ^socket, :econnrefused} ->
          {:error, :econnrefused}

        {:plpmtud_udp_error, ^socket, reason} ->
          {:ok, [{:icmp_error, reason}], driver}
      after
        max(timeout, 0) -> Driver.tick(driver, PLPMTUD.now_ms())
      end

    with {:ok, events, driver} <- received do
      Enum.each(events, run.on_event)
      {:ok, driver}
    end
  end
end
