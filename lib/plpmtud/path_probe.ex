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
  """

  alias PLPMTUD.{Driver, Socket}

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

    family = Socket.family_of(ip)
    mode = options[:mode]
    port = if mode == :icmp, do: 0, else: options[:port]
    config = Keyword.merge(options[:config], family: family, packet_overhead: 8)

    with {:ok, prober} <- PLPMTUD.new(config),
         {:ok, socket} <- open(ip, port, family, mode, options[:netns]) do
      try do
        started = PLPMTUD.now_ms()
        PLPMTUD.connected(prober, started)
        driver = Driver.new(prober, socket, mode, family)
        give_up_at = started + options[:timeout]

        with {:ok, driver} <- loop(driver, options[:on_event], give_up_at) do
          {:ok, result(driver, started)}
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

  defp result(driver, started) do
    mtu = PLPMTUD.mtu(driver.prober)

    %{
      mtu: mtu,
      udp_payload: PLPMTUD.payload_size(driver.prober),
      state: PLPMTUD.state(driver.prober),
      probes: driver.probes,
      sizes: Enum.reverse(driver.sizes),
      elapsed_ms: PLPMTUD.now_ms() - started,
      ignored: driver.ignored
    }
  end

  defp loop(driver, on_event, give_up_at) do
    now = PLPMTUD.now_ms()

    cond do
      PLPMTUD.state(driver.prober) in [:search_complete, :error] ->
        {:ok, driver}

      now >= give_up_at ->
        {:error, :timeout}

      true ->
        with {:ok, events, driver} <- Driver.send_due(driver, now) do
          Enum.each(events, on_event)
          driver |> wait(on_event, now, give_up_at) |> loop(on_event, give_up_at)
        end
    end
  end

  defp wait(driver, on_event, now, give_up_at) do
    timeout = min(Driver.timeout(driver, now), give_up_at - now)
    socket = driver.socket

    {:ok, events, driver} =
      receive do
        {:plpmtud_udp, ^socket, _, _, _} = message ->
          Driver.handle_message(driver, message, PLPMTUD.now_ms())

        {:plpmtud_ptb, ^socket, _} = message ->
          Driver.handle_message(driver, message, PLPMTUD.now_ms())
      after
        max(timeout, 0) -> Driver.tick(driver, PLPMTUD.now_ms())
      end

    Enum.each(events, on_event)
    driver
  end
end
