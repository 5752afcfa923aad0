"""Project administration for one user: projects, folders, backups, media, style capsules, branches.

`Projects` is the half of the runner every caller shares (the UI, the CLI and the client API all
hold a `Runner`, which is a `Projects`): it never runs a model. Every operation checks that the
project, folder or media file belongs to the user (`owner`, '' when single-user), so on a shared
instance users never see or change each other's work; another user's project is "not there".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from aiuteur.domain import (
    Branch,
    ConflictError,
    Folder,
    InputError,
    NotFoundError,
    Project,
    ProjectSummary,
    now_iso,
)
from aiuteur.pipeline.prompts import Template, load_template
from aiuteur.pipeline.text_in import clean_text
from aiuteur.store import Store, Tx
from aiuteur.store.capsules import CapsuleLibrary
from aiuteur.store.store import Snapshot


class Unset:
    """No value given (where None is a value: "in no folder")."""


UNSET = Unset()


def check_branch_seen(tx: Tx, seen: str | None, outcome: str) -> None:
    """Refuse a change made on branch `seen` when someone switched the project to another since."""
    now = tx.branch()
    if seen is not None and now.id != seen:
        raise ConflictError(f"Someone else switched this project to the branch “{now.name}” since you opened it; "
                            f"{outcome}. Reload the project and try again.")


class Projects:
    """The projects, folders, backups, media, capsules and branches of one user."""

    def __init__(self, store: Store, *, owner: str = "") -> None:
        self.store = store
        self.owner = owner

    # -- access: every project operation goes through these, so users stay apart ----------------
    @contextlib.contextmanager
    def _tx(self, project_id: str, *, readonly: bool = False) -> Iterator[Tx]:
        with self.store.transaction(project_id, readonly=readonly) as tx:
            if tx.project.owner != self.owner:
                raise NotFoundError(f"No project {project_id!r}.")  # never reveal someone else's
            yield tx

    def _read(self, project_id: str) -> contextlib.AbstractContextManager[Tx]:
        return self._tx(project_id, readonly=True)

    def owns(self, project_id: str) -> bool:
        try:
            with self._read(project_id):
                return True
        except NotFoundError:
            return False

    # -- the dashboard ----------------------------------------------------------------------------
    def list_projects(self, search: str = "") -> list[ProjectSummary]:
        return self.store.list_projects(owner=self.owner, search=search)

    def summary(self, project_id: str) -> ProjectSummary:
        self._check_owned(project_id)
        return self.store.summary(project_id)

    def duplicate_project(self, project_id: str, title: str) -> Project:
        title = clean_text(title, "The title", max_chars=200, single_line=True)
        self._check_owned(project_id)
        return self.store.duplicate_project(project_id, title)

    def delete_project(self, project_id: str) -> None:
        self._check_owned(project_id)
        self.store.delete_project(project_id)

    def move_project(self, project_id: str, folder_id: str | None, *, seen: str | Unset | None = UNSET) -> None:
        """Move a project into a folder (None: out of every folder).

        `seen` is the folder the user saw it in (None: none): if someone moved it since, nothing
        moves (ConflictError)."""
        self._check_owned(project_id)
        if folder_id is not None:
            self._check_folder(folder_id)
        self.store.set_project_folder(project_id, folder_id, check=not isinstance(seen, Unset),
                                      seen=None if isinstance(seen, Unset) else seen)

    def folders(self) -> list[Folder]:
        return self.store.folders(owner=self.owner)

    def create_folder(self, name: str) -> Folder:
        name = clean_text(name, "The name", max_chars=120, single_line=True)
        if not name.strip() or len(name) > 120:
            raise InputError("A folder name must be 1 to 120 characters.")
        return self.store.create_folder(name, owner=self.owner)

    def rename_folder(self, folder_id: str, name: str, *, seen: str | None = None) -> Folder:
        """Rename a folder; `seen` is the name the user saw (renamed since: ConflictError)."""
        name = clean_text(name, "The name", max_chars=120, single_line=True)
        if not name.strip() or len(name) > 120:
            raise InputError("A folder name must be 1 to 120 characters.")
        self._check_folder(folder_id)
        return self.store.rename_folder(folder_id, name, seen)

    def delete_folder(self, folder_id: str, *, seen: str | None = None) -> None:
        self._check_folder(folder_id)
        self.store.delete_folder(folder_id, seen)

    def media_path(self, key: str, project_id: str | None = None, *, must_exist: bool = True) -> Path:
        """A media file of one of this user's projects (checked when the instance is shared).

        With `project_id`, only that project (which must be this user's) is searched for the key.
        """
        path = self.store.media_path(key, must_exist=must_exist)
        if project_id is not None:
            self._check_owned(project_id)
            if self.owner and not self.store.project_uses_media(project_id, key):
                raise NotFoundError(f"No media file {key!r}.")
        elif self.owner and not any(self.store.project_uses_media(c.id, key) for c in self.list_projects()):
            raise NotFoundError(f"No media file {key!r}.")
        return path

    def media_paths(self, project_id: str, *, must_exist: bool = True) -> Callable[[str], Path]:
        """Where the media of one of this user's projects lives: a function of the key that refuses
        any key the project does not use (the project's files are read once, for a whole gallery)."""
        self._check_owned(project_id)
        used = self.store.project_media_text(project_id) if self.owner else b""

        def path(key: str) -> Path:
            if self.owner and key.encode() not in used:
                raise NotFoundError(f"No media file {key!r}.")
            return self.store.media_path(key, must_exist=must_exist)

        return path

    def put_media(self, data: bytes, ext: str) -> str:
        """Keep an uploaded file (by content hash) for a project of this user; returns its key."""
        return self.store.put_media(data, ext)

    def upload(self, project_id: str, data: bytes, ext: str) -> str:
        """Keep an uploaded file for one of this user's projects; its media key goes into an action."""
        self._check_owned(project_id)
        if not data:
            raise InputError("The upload is empty; choose a file.")
        key = self.store.put_media(data, ext)
        with self._tx(project_id) as tx:  # the project's own now: its media check finds it
            tx.add_upload(key)
            tx.commit()
        return key

    @property
    def capsules(self) -> CapsuleLibrary:
        """This user's written and visual style capsules (kept by the store, under its home)."""
        return self.store.capsules(self.owner)

    def backups(self, project_id: str) -> list[Snapshot]:
        """The project's rolling snapshots, newest first."""
        self._check_owned(project_id)
        return self.store.snapshots(project_id)

    def backup_now(self, project_id: str) -> Snapshot:
        self._check_owned(project_id)
        return self.store.snapshot(project_id, "made by hand")

    def restore_backup(self, project_id: str, snapshot_id: str) -> Snapshot:
        """Put the project back as it was; the state before is kept as a snapshot too."""
        self._check_owned(project_id)
        return self.store.restore(project_id, snapshot_id)

    def _check_owned(self, project_id: str) -> None:
        if not self.owns(project_id):
            raise NotFoundError(f"No project {project_id!r}.")

    def _check_folder(self, folder_id: str) -> None:
        if folder_id not in {f.id for f in self.folders()}:
            raise NotFoundError(f"No folder {folder_id!r}.")

    # -- projects --------------------------------------------------------------------------------
    def create_project(self, title: str, folder_id: str | None = None) -> Project:
        title = clean_text(title, "The title", max_chars=200, single_line=True)
        if not title.strip():
            raise InputError("A project needs a title; type one in.")
        if len(title) > 200:
            raise InputError(f"The title is {len(title)} characters long; keep it under 200.")
        if folder_id is not None:
            self._check_folder(folder_id)
        return self.store.create_project(title, owner=self.owner, folder_id=folder_id)

    def rename_project(self, project_id: str, title: str, *, seen: str | None = None) -> Project:
        """Rename a project. `seen` is the title the user saw: if someone renamed it since, nothing
        changes (ConflictError); None renames whatever it is called now."""
        title = clean_text(title, "The title", max_chars=200, single_line=True)
        if not title.strip() or len(title) > 200:
            raise InputError("A project title must be 1 to 200 characters.")
        with self._tx(project_id) as tx:
            if seen is not None and tx.project.title != seen:
                raise ConflictError(f"The project was renamed by someone else since you opened it (now "
                                    f"“{tx.project.title}”); nothing changed. Reload it and rename it again.",
                                    yours=title)
            project = tx.project.model_copy(update={"title": title.strip(), "updated_at": now_iso()})
            tx.put_project(project)
            tx.commit()
        return project

    def set_prompt_override(self, project_id: str, stage_role: str, text: str | None, *,
                            seen: str | None = None) -> Project:
        """Override a prompt template for one project (`text=None` restores the default).

        `seen` is the text of the template the user saw (its override, else the default); None
        changes whatever is there.

        Raises:
            InputError: no such template, or the text uses a variable the default does not supply.
            ConflictError: someone changed this template for the project since `seen`; nothing changed.
        """
        import string

        default = load_template(stage_role)  # raises InputError naming an unknown template
        if text is not None:
            if not text.strip():
                raise InputError(f"The custom prompt for {stage_role} is empty; write one, or reset it to the default.")
            if len(text) > 50_000:
                raise InputError(f"The custom prompt for {stage_role} is {len(text)} characters; keep it under 50,000.")
            if not string.Template(text).is_valid():
                raise InputError(f"The custom prompt for {stage_role} has a stray '$'; write '$$' for a dollar sign.")
            unknown = Template(id=default.id, text=text).variables - default.variables
            if unknown:
                allowed = ", ".join(f"${v}" for v in sorted(default.variables)) or "none"
                raise InputError(
                    f"The custom prompt for {stage_role} uses {', '.join('$' + v for v in sorted(unknown))}, "
                    f"which the stage does not supply; use only: {allowed}."
                )
        with self._tx(project_id) as tx:
            overrides = dict(tx.project.prompt_overrides)
            if seen is not None and load_template(stage_role, overrides).text != seen:
                raise ConflictError(f"The prompt {stage_role} was changed by someone else since you opened it; "
                                    "nothing was saved. Open the template again and reapply your text.", yours=text)
            if text is None:
                overrides.pop(stage_role, None)
            else:
                overrides[stage_role] = text
            project = tx.project.model_copy(update={"prompt_overrides": overrides, "updated_at": now_iso()})
            tx.put_project(project)
            tx.commit()
        return project

    # -- branches ------------------------------------------------------------------------------
    def switch_branch(self, project_id: str, branch_id: str, *, seen: str | None = None) -> Branch:
        """Make `branch_id` the project's branch. `seen` is the branch the user was on: if someone
        switched the project since, nothing changes (ConflictError)."""
        with self._tx(project_id) as tx:
            check_branch_seen(tx, seen, "nothing changed")
            branch = tx.branch(branch_id)
            tx.put_project(tx.project.model_copy(update={"active_branch": branch.id}))
            tx.commit()
        return branch

    def rename_branch(self, project_id: str, branch_id: str, name: str, *, seen: str | None = None) -> Branch:
        """Rename a branch. `seen` is the name the user saw: if someone renamed it since, nothing
        changes (ConflictError)."""
        name = clean_text(name, "The name", max_chars=120, single_line=True)
        if not name.strip() or len(name) > 120:
            raise InputError("A branch name must be 1 to 120 characters.")
        with self._tx(project_id) as tx:
            now = tx.branch(branch_id)
            if seen is not None and now.name != seen:
                raise ConflictError(f"The branch was renamed by someone else since you opened it (now “{now.name}”); "
                                    "nothing changed. Reload the project and rename it again.", yours=name)
            branch = now.model_copy(update={"name": name.strip()})
            tx.put_branch(branch)
            tx.commit()
        return branch
