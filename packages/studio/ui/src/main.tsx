/** Entry of the Studio's web UI (bundled by Vite into `dist/ui`). */
import { render } from 'preact';
import { adoptTokenFromFragment } from './api-client.ts';
import { App } from './app.tsx';
import './styles.css';

adoptTokenFromFragment();
const root = document.getElementById('app');
if (root !== null) render(<App />, root);
