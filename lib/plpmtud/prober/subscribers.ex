defmodule PLPMTUD.Prober.Subscribers do
  @moduledoc """
  The subscribers of a `PLPMTUD.Prober`: monitored pids that receive
  `{:plpmtud, prober, event}`. Plain data, owned by the prober process.
  """

  @typedoc "Subscribed pids and their monitors."
  @type t :: %{pid() => reference()}

  @doc "No subscribers."
  @spec new() :: %{}
  def new, do: %{}

  @doc "Subscribes and monitors `pid`; subscribing twice is the same as once."
  @spec add(t(), pid()) :: t()
  def add(subscribers, pid) when is_map_key(subscribers, pid), do: subscribers
  def add(subscribers, pid) when is_pid(pid), do: Map.put(subscribers, pid, Process.monitor(pid))

  @doc "Unsubscribes `pid` and drops its monitor (and any `:DOWN` already queued)."
  @spec remove(t(), pid()) :: t()
  def remove(subscribers, pid) do
    {ref, subscribers} = Map.pop(subscribers, pid)
    if ref, do: Process.demonitor(ref, [:flush])
    subscribers
  end

  @doc """
  Handles the `:DOWN` of monitor `ref` for `pid`: `{:ok, subscribers}`
  without it, or `:unknown` when the monitor is not a subscriber's.
  """
  @spec down(t(), reference(), pid()) :: {:ok, t()} | :unknown
  def down(subscribers, ref, pid) do
    case subscribers do
      %{^pid => ^ref} -> {:ok, Map.delete(subscribers, pid)}
      _ -> :unknown
    end
  end

  @doc "Sends `{:plpmtud, prober, event}` for each event, in order, to every subscriber."
  @spec publish(t(), pid(), [term()]) :: :ok
  def publish(subscribers, prober, events) do
    for event <- events, pid <- Map.keys(subscribers), do: send(pid, {:plpmtud, prober, event})
    :ok
  end
end
