// A real OpenID Connect provider for tests/sso: panva's certified oidc-provider with its development login form
// (any login, any password), one confidential test client, and a `groups` claim per account so the dashboard's
// claim-to-role mapping is exercised end to end. Started by tests/sso/conftest.py; never for production.
//
//   node provider.js PORT REDIRECT_URI [GROUPS_FILE]
// prints "ready ISSUER" on stdout once it listens.
import { existsSync, readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, redirectUri, groupsFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

// GROUPS_FILE ({"account": ["group", ...]}) is read at every sign-in, so a test can move someone between groups
// "at the provider". Otherwise the account id typed into the login form picks its groups: "alice-operator" is in
// dash-operators, and so on; anything else is in no mapped group.
function groupsOf(id) {
  if (groupsFile && existsSync(groupsFile)) {
    const groups = JSON.parse(readFileSync(groupsFile, 'utf8'));
    if (id in groups) return groups[id];
  }
  if (id.endsWith('-admin')) return ['staff', 'dash-admins'];
  if (id.endsWith('-operator')) return ['staff', 'dash-operators'];
  if (id.endsWith('-viewer')) return ['staff', 'dash-viewers'];
  return ['staff'];
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'dashboard',
    client_secret: 'dashboard-test-secret',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [redirectUri.replace(/\/oidc\/callback\/$/, '/login/')],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
  }],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: id,
          email: `${id}@example.test`,
          email_verified: true,
          groups: groupsOf(id),
        };
      },
    };
  },
  // A first-party client: grant what it asks for instead of showing a consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email groups');
    await grant.save();
    return grant;
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
