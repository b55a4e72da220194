import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { get, setToken } from './api';
import { BrandMark, Link } from './components/common';
import { dismiss, useNotices } from './notices';
import { ContainerDetailPage } from './pages/container-detail';
import { ContainersPage } from './pages/containers';
import { CreateContainerPage } from './pages/create-container';
import { IdMapPage } from './pages/id-map';
import { ImagesPage } from './pages/images';
import { VolumesPage } from './pages/volumes';
import { JobsPage } from './pages/jobs';
import { RunsPage } from './pages/runs';
import { NodesPage } from './pages/nodes';
import { OverviewPage } from './pages/overview';
import { PoolsPage } from './pages/pools';
import { ProjectsPage } from './pages/projects';
import { signIn, SignInPage } from './pages/sign-in';
import { TokensPage } from './pages/tokens';
import { PROJECT_EVENTS } from './live-events';
import { usePoll } from './poll';
import { ProjectContext, projectOf, storedProject, storeProject, useProjectScope, type ProjectScope } from './project';
import { navigate, useLocation, type Location } from './router';
import { SessionContext, storedToken, storeToken, useSession, type Session } from './session';
import type { ProjectView } from '@nagaya/contract';

const NAV = [
  { href: '/', label: 'Overview' },
  { href: '/containers', label: 'Containers' },
  { href: '/images', label: 'Images' },
  { href: '/volumes', label: 'Volumes' },
  { href: '/map', label: 'ID-space map' },
  { href: '/pools', label: 'Pools' },
  { href: '/runs', label: 'Runs' },
  { href: '/jobs', label: 'Jobs' },
  { href: '/nodes', label: 'Nodes' },
  { href: '/projects', label: 'Projects' },
  { href: '/tokens', label: 'Tokens' },
];

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => storedToken() !== null);
  const [message, setMessage] = useState<string | undefined>();

  const signOut = useCallback((why?: string) => {
    storeToken(null);
    storeProject(null);
    setToken(null);
    setSession(null);
    setMessage(why);
  }, []);
  const signedIn = useCallback(
    (s: Session) => {
      storeToken(s.token);
      setToken(s.token, (err) => signOut(`The API no longer accepts this token: ${err.message}`));
      setMessage(undefined);
      setSession(s);
    },
    [signOut],
  );

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    signIn(token)
      .then(signedIn, (err: Error) => signOut(err.message))
      .finally(() => setRestoring(false));
  }, []);

  if (restoring)
    return (
      <p class="muted center" aria-busy="true">
        Signing in…
      </p>
    );
  if (!session) return <SignInPage onSignedIn={signedIn} message={message} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell onSignOut={() => signOut()} />
    </SessionContext.Provider>
  );
}

/**
 * The project scope of a session: a token of one project is fixed to it; an admin token of every
 * project starts where it left off in this tab (every project when nothing is stored) and falls
 * back to every project when the stored one is gone.
 */
function useProjectChoice(session: Session): ProjectScope {
  const [chosen, setChosen] = useState<string | null>(() => (session.project === null ? storedProject() : session.project));
  const list = usePoll(() => get<{ projects: ProjectView[] }>('/projects'), 'projects', 15_000, PROJECT_EVENTS);
  const projects = list.data?.projects;
  const current = session.project ?? chosen;
  useEffect(() => {
    if (session.project === null && chosen !== null && projects && !projects.some((p) => p.name === chosen)) {
      storeProject(null);
      setChosen(null);
    }
  }, [projects, chosen, session.project]);
  const choose = useCallback((project: string | null) => {
    storeProject(project);
    setChosen(project);
  }, []);
  return useMemo(
    () => ({ current, fixed: session.project !== null, projects, choose, refresh: list.refresh }),
    [current, session.project, projects, choose, list.refresh],
  );
}

function Shell(props: { onSignOut: () => void }) {
  const session = useSession();
  const scope = useProjectChoice(session);
  return (
    <ProjectContext.Provider value={scope}>
      <ShellFrame onSignOut={props.onSignOut} />
    </ProjectContext.Provider>
  );
}

/** The header's project: a switcher for an admin token of every project, the token's project for any other. */
function ProjectSwitcher() {
  const scope = useProjectScope();
  if (scope.fixed)
    return (
      <span class="project-name" title="The token's project">
        project <strong data-testid="project">{scope.current}</strong>
      </span>
    );
  const choose = (project: string | null) => {
    scope.choose(project);
    // one container's page belongs to its project: another project in view goes back to the list
    if (window.location.pathname.startsWith('/containers/')) navigate('/containers', true);
  };
  const names = scope.projects?.map((p) => p.name) ?? [];
  // the stored choice shows before the list arrives
  if (scope.current !== null && !names.includes(scope.current)) names.unshift(scope.current);
  return (
    <span class="project-switch">
      <label for="project-switch">Project</label>
      <select id="project-switch" value={scope.current ?? ''} onChange={(e) => choose(e.currentTarget.value || null)}>
        <option value="">All projects</option>
        {names.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </span>
  );
}

function ShellFrame(props: { onSignOut: () => void }) {
  const session = useSession();
  const scope = useProjectScope();
  const location = useLocation();
  const notices = useNotices();
  const section = location.path === '/' ? '/' : `/${location.path.split('/')[1]}`;
  useEffect(() => {
    document.title = `${NAV.find((n) => n.href === section)?.label ?? 'nagaya'} · nagaya`;
  }, [section]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link class="brand" href="/">
          <BrandMark /> nagaya
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => {
              const active = n.href === section || (n.href === '/containers' && section === '/new-container');
              return (
                <li key={n.href}>
                  <Link href={n.href} aria-current={active ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <ProjectSwitcher />
        <div class="who">
          <span title="Signed in as">
            {session.name} · <strong data-testid="role">{session.role}</strong>
          </span>
          <button type="button" class="small" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <div class="notices" role="status" aria-live="polite">
        {notices.map((n) => (
          <div key={n.id} class={`notice ${n.kind}`}>
            <span>{n.text}</span>
            <button type="button" class="link" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
      <main id="main" tabIndex={-1}>
        {/* a new project in view starts every page afresh: its polls, filters and forms */}
        <Page key={scope.current ?? '*'} location={location} />
      </main>
    </>
  );
}

function Page(props: { location: Location }) {
  const { path, query } = props.location;
  const canOperate = useSession().role !== 'viewer';
  const { current } = useProjectScope();
  const detail = /^\/containers\/([a-z0-9-]{1,63})$/.exec(path);
  if (detail) {
    const project = projectOf(query.get('project'), current);
    return <ContainerDetailPage key={`${project}/${detail[1]}`} name={detail[1]!} project={project} />;
  }
  switch (path) {
    case '/':
      return <OverviewPage />;
    case '/containers':
      return <ContainersPage initialNode={query.get('node') ?? ''} />;
    case '/new-container':
      return canOperate ? (
        <CreateContainerPage />
      ) : (
        <section>
          <h1>New container</h1>
          <p class="banner">
            A viewer token cannot create containers. <Link href="/containers">Back to containers</Link>
          </p>
        </section>
      );
    case '/images':
      return <ImagesPage />;
    case '/volumes':
      return <VolumesPage />;
    case '/map':
      return <IdMapPage key={query.get('pool') ?? ''} pool={query.get('pool')} />;
    case '/pools':
      return <PoolsPage />;
    case '/runs':
      return <RunsPage state={query.get('state') ?? ''} />;
    case '/jobs':
      return <JobsPage state={query.get('state') ?? ''} />;
    case '/nodes':
      return <NodesPage />;
    case '/projects':
      return <ProjectsPage />;
    case '/tokens':
      return <TokensPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing lives at {path}. <Link href="/">Go to the overview</Link>
          </p>
        </section>
      );
  }
}

render(<App />, document.getElementById('app')!);
