defmodule PLPMTUD.Socket.Handover do
  @moduledoc false
  # Starting a process around a socket that its starter opened, so that a
  # socket that cannot be opened is `{:error, reason}` in the starter and
  # never a stop of the new process (which would kill a starter that does
  # not trap exits through the link).
  #
  # The starter opens the socket passive (`active: false`), starts the
  # process with it and calls `give/3`; the process calls `take/2` before
  # it sends or receives anything, so no datagram ever reaches the starter.

  alias PLPMTUD.Socket

  # How long a started process waits for its socket.
  @take_timeout 5_000

  @doc """
  Starts a process with `start` (a 0-arity `GenServer.start_link` call whose
  process calls `take/2` first) and hands it `socket`. The socket is closed
  when the process does not start, or does not live to take it.
  """
  @spec start(Socket.t(), (() -> GenServer.on_start())) :: GenServer.on_start()
  def start(socket, start) do
    case start.() do
      {:ok, pid} = started ->
        case give(socket, pid) do
          :ok -> started
          {:error, _} = error -> error
        end

      other ->
        Socket.close(socket)
        other
    end
  end

  defp give(socket, pid) do
    case Socket.controlling_process(socket, pid) do
      :ok ->
        forward_strays(socket, pid)
        send(pid, {__MODULE__, socket})
        :ok

      {:error, reason} ->
        Socket.close(socket)
        {:error, reason}
    end
  end

  # Error-queue reports read while the starter owned the socket.
  defp forward_strays(socket, pid) do
    receive do
      {:plpmtud_ptb, ^socket, _report} = message ->
        send(pid, message)
        forward_strays(socket, pid)
    after
      0 -> :ok
    end
  end

  @doc """
  Waits until the starter has handed over `socket`, then sets its active
  mode. `{:error, :timeout}` when the starter did not within 5 seconds.
  """
  @spec take(Socket.t(), Socket.active()) :: :ok | {:error, :timeout | :closed}
  def take(socket, active) do
    receive do
      {__MODULE__, ^socket} -> Socket.set_active(socket, active)
    after
      @take_timeout -> {:error, :timeout}
    end
  end
end
