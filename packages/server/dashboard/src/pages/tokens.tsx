import { useState } from 'preact/hooks';
import { del, describeError, get } from '../api';
import { ConfirmButton, ErrorBanner, Loading, PageHeader, ProjectTag } from '../components/common';
import { type Column, DataTable } from '../components/data-table';
import { CreateTokenForm, NewTokenSecret } from '../components/token-create';
import { age, ageOf, when } from '../format';
import { notify } from '../notices';
import { usePoll } from '../poll';
import { inProject, useProjectScope } from '../project';
import { useSession } from '../session';
import type { CreatedTokenView, TokenView } from '@nagaya/contract';

/** What a token's row says of it: revoked, expired, or active. */
function tokenState(t: TokenView, now: number): 'revoked' | 'expired' | 'active' {
  if (t.revokedAt) return 'revoked';
  return t.expiresAt && Date.parse(t.expiresAt) <= now ? 'expired' : 'active';
}

/** When a token expires, said from now: "in 3d", "2h ago", "never". */
function expiryText(expiresAt: string | null, now: number): string {
  if (!expiresAt) return 'never';
  const at = Date.parse(expiresAt);
  return at > now ? `in ${age(now, at)}` : `${age(at, now)} ago`;
}

/**
 * The API tokens of the project in view (every token, for an admin token of every project with
 * every project in view): admins list, create (the secret shown once) and revoke them. The API
 * lists tokens to admin tokens only, so other roles get a word instead of the list. Tokens write
 * no events: the list loads when the page opens and after each of its own actions, never on a timer.
 */
export function TokensPage() {
  const session = useSession();
  if (session.role !== 'admin')
    return (
      <section>
        <PageHeader title="Tokens" />
        <p class="banner" role="status">
          Tokens are listed, created and revoked with an admin token; this one ({session.name}) is {session.role}.
        </p>
      </section>
    );
  return <TokenList />;
}

function TokenList() {
  const { current } = useProjectScope();
  const { data, error, updatedAt, refresh } = usePoll(() => get<{ tokens: TokenView[] }>(inProject('/tokens', current)), 'tokens', null);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedTokenView | null>(null);
  const now = updatedAt ?? Date.now();
  const columns: Column<TokenView>[] = [
    { header: 'Name', cell: (t) => t.name },
    { header: 'Role', cell: (t) => t.role },
    { header: 'Project', cell: (t) => (t.project === null ? <span class="muted">every project</span> : <ProjectTag name={t.project} />) },
    { header: 'Created', title: (t) => when(t.createdAt), cell: (t) => `${ageOf(t.createdAt)} ago` },
    { header: 'Expires', title: (t) => when(t.expiresAt), cell: (t) => expiryText(t.expiresAt, now) },
    { header: 'Last used', title: (t) => when(t.lastUsedAt), cell: (t) => (t.lastUsedAt ? `${ageOf(t.lastUsedAt)} ago` : 'never') },
    {
      header: 'State',
      cell: (t) => (
        <span class={`badge token-${tokenState(t, now)}`} data-testid="token-state">
          {tokenState(t, now)}
        </span>
      ),
    },
    {
      header: 'Actions',
      hideHeader: true,
      cell: (t) => tokenState(t, now) !== 'revoked' && <RevokeTokenButton token={t} onDone={refresh} />,
    },
  ];
  return (
    <section>
      <PageHeader title="Tokens">
        {!creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New token
          </button>
        )}
      </PageHeader>
      {creating && (
        <CreateTokenForm
          onCancel={() => setCreating(false)}
          onCreated={(token) => {
            setCreating(false);
            setCreated(token);
            refresh();
          }}
        />
      )}
      {created && <NewTokenSecret created={created} onDismiss={() => setCreated(null)} />}
      <ErrorBanner error={error} prefix="Could not load the tokens" />
      {!data ? (
        !error && <Loading />
      ) : (
        <div class="table-wrap">
          <DataTable
            columns={columns}
            rows={data.tokens}
            rowKey={(t) => t.id}
            rowAttributes={(t) => ({ 'data-token': t.name, 'data-token-id': t.id })}
          />
          {data.tokens.length === 0 && <p class="muted">No tokens in this project.</p>}
        </div>
      )}
    </section>
  );
}

function RevokeTokenButton(props: { token: TokenView; onDone: () => void }) {
  const { token } = props;
  const revoke = async () => {
    try {
      // asked in the token's own project (a token of every project: all-projects=true), where the API finds it
      await del(inProject(`/tokens/${token.id}`, token.project));
      notify(`token ${token.name} revoked`);
    } catch (err) {
      notify(`revoking ${token.name} failed: ${describeError(err)}`, 'error');
    }
    props.onDone();
  };
  return (
    <ConfirmButton
      small
      danger
      label="Revoke"
      title={`Revoke token ${token.name}?`}
      confirmLabel={`Revoke ${token.name}`}
      message={
        <p>
          Every request with it is refused from the next one on ({token.role}
          {token.project === null ? ' of every project' : ` of project ${token.project}`}). A revoked token cannot be restored; whoever uses
          it needs a new one.
        </p>
      }
      onConfirm={revoke}
    />
  );
}
