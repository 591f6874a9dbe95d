defmodule PLPMTUD.Prober.Sender do
  @moduledoc """
  The source of a `PLPMTUD.Prober` given a `:probe_sender`: a function of
  the size (in the handle's unit) that sends a probe of that size and
  returns `{:ok, id}`, `:error` or `{:error, reason}`. The prober calls it
  as soon as a probe is due and records the probe under `id`; the
  transport reports only the answers. Due probes are not news.
  """

  use PLPMTUD.Prober.Source

  @impl PLPMTUD.Prober.Source
  def prepare(options) do
    sender = options[:probe_sender]

    unless is_function(sender, 1) do
      raise ArgumentError, ":probe_sender must be a 1-arity function, got: #{inspect(sender)}"
    end

    {:ok, options}
  end

  @impl PLPMTUD.Prober.Source
  def init(_handle, options), do: {:ok, options[:probe_sender]}

  @impl PLPMTUD.Prober.Source
  def send_due(sender, handle, now) do
    case PLPMTUD.probe_size(handle) do
      nil -> {:ok, [], sender}
      size -> send_probe(sender, handle, size, now)
    end
  end

  defp send_probe(sender, handle, size, now) do
    case sender.(size) do
      {:ok, id} ->
        :probe = PLPMTUD.on_send(handle, id, size, now)
        {:ok, [], sender}

      :error ->
        {:error, :error, [], sender}

      {:error, reason} ->
        {:error, reason, [], sender}
    end
  end

  @impl PLPMTUD.Prober.Source
  def news?({:probe_due, _size}), do: false
  def news?(_event), do: true
end
