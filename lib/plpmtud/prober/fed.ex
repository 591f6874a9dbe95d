defmodule PLPMTUD.Prober.Fed do
  @moduledoc """
  The source of a `PLPMTUD.Prober` fed by a transport (the default): the
  transport sends the probes and reports every packet through the
  prober's calls; `{:probe_due, size}` is news for subscribers, who send
  the probe. The prober sends nothing itself.
  """

  use PLPMTUD.Prober.Source

  @impl PLPMTUD.Prober.Source
  def send_due(state, _handle, _now), do: {:ok, [], state}
end
