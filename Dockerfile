# The tributary service of docker-compose.yml. Build stage: `npm run build` compiles the TypeScript to dist/ (no
# transpiling at boot) and the R4 validator is compiled once into its cache, so a container starts ready to validate.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node --input-type=module -e "(await import('./dist/server/validation/validator.js')).prepareValidation()"

# Run stage: production dependencies and the build only; `npm run start:built` is `npm start`'s command on dist/.
FROM node:22-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/profiles ./profiles
ENV NODE_ENV=production PORT=8080
EXPOSE 8080
USER node
CMD ["npm", "run", "start:built"]
