"""GradNorm (Chen et al., ICML 2018, Algorithm 1; SEM-CGCNN Eq. 7) and the equal-weight alternative.

Per step t, with W the weight of the last shared layer:
G_i = ‖∇_W w_i L_i‖₂, target Ḡ · r_i^α with r_i = (L_i/L_i(0)) / mean_j(L_j/L_j(0)) and
Ḡ = mean_i G_i (target held constant); L_grad = Σ_i |G_i − target_i| updates the task weights
with their own optimiser; the network step uses Σ w_i(t) L_i; afterwards w is kept positive and
renormalised to sum to the number of tasks. L(0) is the first step's losses.

Cost: the network's backward of Σ w_i L_i already yields Σ w_i ∇_W L_i at W, so only n − 1
per-task gradients need their own (partial) backward; the last one is recovered by
subtraction (it is the task with the largest weight, so the subtraction loses no precision).
"""

from __future__ import annotations

import torch


class TaskWeights:
    """Fixed equal weights (the plain multi-task loss of Eq. 6)."""

    def __init__(self, n_tasks: int, device: str | torch.device = "cpu"):
        self.n_tasks = n_tasks
        self.weights = torch.ones(n_tasks, device=device)

    def backward(self, losses: torch.Tensor, shared: torch.Tensor) -> None:
        """Back-propagate Σ w_i L_i into the network's ``.grad`` fields."""
        (self.weights * losses).sum().backward()

    def state_dict(self) -> dict:
        return {"weights": self.weights.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.weights = state["weights"].to(self.weights.device).clone()


class GradNorm(TaskWeights):
    """Learned task weights balanced by gradient norms."""

    def __init__(
        self, n_tasks: int, alpha: float = 1.5, lr: float = 0.025, device: str | torch.device = "cpu"
    ):
        super().__init__(n_tasks, device)
        self.alpha = alpha
        self.weights = torch.ones(n_tasks, device=device, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.weights], lr=lr)
        self.initial_losses: torch.Tensor | None = None
        self.last_grad_norms = torch.zeros(n_tasks, device=device)

    def task_gradient_norms(self, losses: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """‖∇_W L_i‖ for every task, by one backward per task (reference implementation)."""
        return torch.stack(
            [
                torch.linalg.vector_norm(torch.autograd.grad(losses[i], shared, retain_graph=True)[0])
                for i in range(self.n_tasks)
            ]
        )

    def backward(self, losses: torch.Tensor, shared: torch.Tensor) -> None:
        """Network backward of Σ w_i(t) L_i, then one GradNorm update of the task weights.

        ``shared.grad`` must be zero (or None) on entry, as after ``optimizer.zero_grad()``.
        """
        if self.n_tasks == 1:
            losses.sum().backward()
            return
        w = self.weights.detach().clone()
        last = int(torch.argmax(w))
        partial = {
            i: torch.autograd.grad(losses[i], shared, retain_graph=True)[0]
            for i in range(self.n_tasks)
            if i != last
        }
        (w * losses).sum().backward()
        total = shared.grad
        rest = total - sum(w[i] * g for i, g in partial.items())
        grads = [partial[i] if i != last else rest / w[last] for i in range(self.n_tasks)]
        self.update(losses.detach(), torch.stack([torch.linalg.vector_norm(g) for g in grads]))

    def update(self, losses: torch.Tensor, norms: torch.Tensor) -> None:
        """One GradNorm step on the task weights from the losses and ‖∇_W L_i‖."""
        if self.initial_losses is None:
            self.initial_losses = losses.clone()
        # a task unlabelled in the first batches (joint data, masked loss) takes its L(0) later
        self.initial_losses = torch.where(self.initial_losses > 0, self.initial_losses, losses)
        g = self.weights * norms  # ‖∇_W w_i L_i‖ = w_i ‖∇_W L_i‖
        ratio = torch.where(self.initial_losses > 0, losses / self.initial_losses.clamp_min(1e-12), 1.0)
        r = ratio / ratio.mean()
        target = (g.mean() * r**self.alpha).detach()
        l_grad = (g - target).abs().sum()
        self.optimizer.zero_grad()
        l_grad.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=1e-4)
            self.weights.mul_(self.n_tasks / self.weights.sum())
        self.last_grad_norms = g.detach()

    def state_dict(self) -> dict:
        return {
            "weights": self.weights.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "initial_losses": self.initial_losses if self.initial_losses is not None else torch.zeros(0),
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.weights.copy_(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        init = state["initial_losses"].to(self.weights.device)
        self.initial_losses = init if init.numel() else None
