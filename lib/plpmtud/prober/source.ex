defmodule PLPMTUD.Prober.Source do
  @moduledoc """
  Where the probes of a `PLPMTUD.Prober` come from: the behaviour of its
  three modes.

  The prober process holds what every mode shares, once: the handle, the
  timer, the subscribers, telemetry and Logger, the cache, and the pause
  after a failed send. A source does what differs between the modes:

    * `PLPMTUD.Prober.Fed` - the transport sends the probes and reports
      them through the prober's calls; due probes are news for subscribers;
    * `PLPMTUD.Prober.Sender` - a function of the caller sends each probe
      as soon as it is due;
    * `PLPMTUD.Prober.Autonomous` - a DF socket of its own, driven by
      `PLPMTUD.Driver` (probes, answers, ICMP errors, heartbeats).

  `use PLPMTUD.Prober.Source` gives every callback but `send_due/3` a
  default for a source without a socket (no preparation, no messages, the
  handle's own timers, every event news); a source overrides what it needs.

  Events are what the handle answered (`t:PLPMTUD.event/0`) and what the
  source adds (`t:PLPMTUD.Driver.event/0`), oldest first; `news?/1` says
  which of them subscribers get.
  """

  @typedoc "A source's own state, owned by the prober process."
  @type state :: term()

  @typedoc "What happened, oldest first."
  @type events :: [PLPMTUD.Driver.event()]

  @doc """
  In the caller of `PLPMTUD.Prober.start_link/1`, before the handle is
  made: validates the source's options (raising `ArgumentError`) and
  completes them (a resolved peer, the handle's configuration);
  `{:error, reason}` is the start's result.
  """
  @callback prepare(options :: keyword()) :: {:ok, keyword()} | {:error, term()}

  @doc """
  In the caller, with the handle made: starts the process with `start`
  (`GenServer.start_link/3` of the given options), after acquiring what
  it needs (a socket) and handing it over.
  """
  @callback start(options :: keyword(), start :: (keyword() -> GenServer.on_start())) ::
              GenServer.on_start()

  @doc """
  In the new process, before anything is sent: the source's state, or
  `{:error, reason}` to stop the process with `reason`.
  """
  @callback init(handle :: PLPMTUD.t(), options :: keyword()) :: {:ok, state()} | {:error, term()}

  @doc """
  After every event: sends what is due, if the source sends. `{:error,
  reason, events, state}` when a send failed, `events` being what was
  answered before it.
  """
  @callback send_due(state(), handle :: PLPMTUD.t(), now :: integer()) ::
              {:ok, events(), state()} | {:error, term(), events(), state()}

  @doc """
  A send failed for `reason`; nothing is sent before `retry_at` (ms):
  `{:retry, state}`, or `{:stop, exit_reason, state}` to end the prober.
  """
  @callback send_failed(state(), reason :: term(), retry_at :: integer()) ::
              {:retry, state()} | {:stop, term(), state()}

  @doc "A message the prober does not handle itself, or `:unknown`."
  @callback handle_info(message :: term(), state(), now :: integer()) ::
              {:ok, events(), state()} | :unknown

  @doc "The timer fired: runs the handle's timers and the source's own."
  @callback tick(state(), handle :: PLPMTUD.t(), now :: integer()) :: {:ok, events(), state()}

  @doc "Milliseconds until `tick/3` is due, or `:infinity`."
  @callback timeout(state(), handle :: PLPMTUD.t(), now :: integer()) :: timeout()

  @doc "Whether subscribers get `event` (else it is the source's own business)."
  @callback news?(event :: term()) :: boolean()

  @doc "The prober process ends: releases what the source holds."
  @callback terminate(reason :: term(), state()) :: term()

  @doc false
  defmacro __using__(_options) do
    quote do
      @behaviour PLPMTUD.Prober.Source

      @impl PLPMTUD.Prober.Source
      def prepare(options), do: {:ok, options}

      @impl PLPMTUD.Prober.Source
      def start(options, start), do: start.(options)

      @impl PLPMTUD.Prober.Source
      def init(_handle, _options), do: {:ok, nil}

      @impl PLPMTUD.Prober.Source
      def send_failed(state, _reason, _retry_at), do: {:retry, state}

      @impl PLPMTUD.Prober.Source
      def handle_info(_message, _state, _now), do: :unknown

      @impl PLPMTUD.Prober.Source
      def tick(state, handle, now), do: {:ok, PLPMTUD.on_tick(handle, now), state}

      @impl PLPMTUD.Prober.Source
      def timeout(_state, handle, now),
        do: PLPMTUD.Prober.Source.until(PLPMTUD.deadline(handle), now)

      @impl PLPMTUD.Prober.Source
      def news?(_event), do: true

      @impl PLPMTUD.Prober.Source
      def terminate(_reason, _state), do: :ok

      defoverridable prepare: 1,
                     start: 2,
                     init: 2,
                     send_failed: 3,
                     handle_info: 3,
                     tick: 3,
                     timeout: 3,
                     news?: 1,
                     terminate: 2
    end
  end

  @doc "Milliseconds from `now` to `deadline` (0 when past), `:infinity` for `nil`."
  @spec until(integer() | nil, integer()) :: timeout()
  def until(nil, _now), do: :infinity

  def until(deadline, now) when is_integer(deadline) and is_integer(now),
    do: max(deadline - now, 0)
end
