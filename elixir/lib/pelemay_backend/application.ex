defmodule PelemayBackend.Application do
  @moduledoc """
  The OTP application. It starts the default pool, `PelemayBackend.Pool`
  (used by `PelemayBackend.run/3` when no `:pool` is given), with the options
  of `config :pelemay_backend, :pool` (see `PelemayBackend.Pool`):

      config :pelemay_backend, :pool, size: 2, memory_budget: "256M"

  and none with `config :pelemay_backend, start_pool: false` (then start pools
  in your own supervision tree). A pool whose executor cannot be started does
  not stop the application: it reports `:unavailable`.

  It also starts the owner of the memo of encoded programs
  (`PelemayBackend.Program.Prepared.cached/1`).

  How long callers poll for a reply before they block is read from
  `config :pelemay_backend, await_spin_us: n` (0..10 000; default 50 with two
  or more CPUs, else 0; see `PelemayBackend.AwaitSpin`).
  """

  use Application

  @impl true
  def start(_type, _args) do
    pools =
      if Application.get_env(:pelemay_backend, :start_pool, true) do
        opts = Application.get_env(:pelemay_backend, :pool, [])
        [{PelemayBackend.Pool, Keyword.put_new(opts, :name, PelemayBackend.Pool)}]
      else
        []
      end

    # The memo of encoded programs (PelemayBackend.Program.Prepared.cached/1).
    children = [PelemayBackend.Program.Prepared | pools]

    Supervisor.start_link(children, strategy: :one_for_one, name: PelemayBackend.Supervisor)
  end
end
